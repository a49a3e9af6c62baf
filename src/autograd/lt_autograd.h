/* lt_autograd.h — reverse-mode automatic differentiation (placeholder
 * interface; the autograd issue fills it in). A node is one recorded
 * operation; tensors computed from inputs that require grad point at it. */
#ifndef LT_AUTOGRAD_H
#define LT_AUTOGRAD_H

#include "lt_tensor.h"

typedef struct lt_node lt_node;
void lt_node_retain(lt_node *n);
void lt_node_release(lt_node *n);

#endif

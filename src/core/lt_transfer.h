/* lt_transfer.h — pinned CPU tensors and host-to-device copies that do not
 * make the host wait (PyTorch's pin_memory / is_pinned / non_blocking).
 *
 * A pinned tensor is an ordinary CPU tensor whose storage is page-locked
 * (lt_storage_new_pinned). A non_blocking copy from one to a GPU is queued on
 * the device's copy stream and ordered before every later op on that device
 * (cuda/lt_cuda_transfer.cu explains how); from anything else it is the
 * ordinary copy, as PyTorch's non_blocking copy from pageable memory, which
 * returns once the source may be reused. Device-to-host copies always wait.
 *
 * Pinned memory and copy streams are facilities of a GPU's driver: the
 * backend table's host_alloc, copy_from_pinned_async and transfer_poll
 * (lt_backend.h), which only the CUDA backend fills in. Without CUDA these
 * report that clearly. Not here: the ordinary copies (lt_op_to, lt_op_copy_
 * in lt_ops_elementwise.c). */
#ifndef LT_TRANSFER_H
#define LT_TRANSFER_H

#include "lt_tensor.h"

/* True when t's storage is pinned host memory (views of it included). */
bool lt_tensor_is_pinned(const lt_tensor *t);
/* A contiguous copy of CPU tensor t in pinned memory; t itself (another
 * reference) when it is already pinned, as PyTorch. Errors: t not on the
 * CPU; no CUDA build or no GPU. */
lt_status lt_op_pin_memory(lt_tensor *t, lt_tensor **out);
/* lt_op_to with non_blocking = true: when t is a contiguous pinned CPU
 * tensor and `device` a GPU, the bytes travel on the copy stream without the
 * host waiting (converted to `dtype` afterwards on the GPU); otherwise
 * exactly lt_op_to. Not differentiable (the glue takes lt_ag_to for tensors
 * that require grad). */
lt_status lt_op_to_non_blocking(lt_tensor *t, lt_dtype dtype, lt_device device, lt_tensor **out);
/* Lets go of the sources of finished non_blocking copies on every backend
 * that queues them (wait: of all, after waiting for them). Always LT_OK
 * without CUDA. */
lt_status lt_transfer_poll(bool wait);

#endif

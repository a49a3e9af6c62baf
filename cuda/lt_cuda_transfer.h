/* lt_cuda_transfer.h — pinned host memory and host-to-device copies that do
 * not make the host wait: the C-callable half of cuda/lt_cuda_transfer.cu.
 *
 * The core reaches these through the backend table (host_alloc, host_free,
 * copy_from_pinned_async, transfer_poll in lt_backend.h; lt_cuda_table.c
 * fills them in): pinned storages (lt_storage.c) and t:cuda{non_blocking =
 * true} (lt_transfer.c). The backend's own files call them by name (the
 * graph module, synchronisation). Plain C: no CUDA types. Not here: the
 * copies every other path uses (the backend table's copy_from_host, which is
 * synchronous for the host). */
#ifndef LT_CUDA_TRANSFER_H
#define LT_CUDA_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "lt_error.h"

/* nbytes (> 0) of page-locked host memory, usable by every GPU
 * (cudaHostAllocPortable). Fails with "pinned memory needs a GPU (...)"
 * when none is usable, LT_ERR_OOM when the driver cannot pin that much. */
lt_status lt_cuda_host_alloc(size_t nbytes, void **out);
/* Frees memory from lt_cuda_host_alloc (NULL: nothing). While this thread
 * captures a CUDA graph the free is postponed (cudaFreeHost would end the
 * capture) until lt_cuda_host_free_postponed, which lt_cuda_graph.cu calls
 * when the capture ends. Refused the same way: lt_cuda_host_alloc. */
void lt_cuda_host_free(void *p);
void lt_cuda_host_free_postponed(void);

/* Queues a copy of nbytes from pinned host memory `src` to `dst`, device
 * memory of cuda:device that the backend allocated (stream-ordered, on the
 * compute stream), and returns without waiting for it:
 *   - the copy runs on the device's copy stream after everything queued on
 *     the compute stream so far (the allocation of dst included);
 *   - everything queued on the compute stream afterwards runs after the copy.
 * `keep` owns src: on LT_OK this call takes over one reference, dropped with
 * release(keep) once the copy has finished (seen at a later call of this
 * function or of lt_cuda_transfer_poll). On an error the reference stays with
 * the caller, and no copy is left running. Refused while the compute stream is
 * being captured into a CUDA graph. */
lt_status lt_cuda_copy_from_pinned_async(int device, void *dst, const void *src, size_t nbytes, void *keep,
                                         void (*release)(void *keep));

/* Drops the references of copies that have finished, on every device; with
 * `wait`, waits for all queued copies first. Cheap when none is pending (no
 * CUDA call at all). Reports a copy that failed. */
lt_status lt_cuda_transfer_poll(bool wait);
/* Copies queued and not yet seen finished (all devices). */
size_t lt_cuda_transfer_pending(void);

#ifdef __cplusplus
}
#endif

#endif

// sortpool_training.h - the CPU kernels of the PyTorch layer's training path, as a C ABI.
//
// The layer (export/sortpool_torch/_training_kernels.py) calls these through ctypes, so the
// library links nothing of PyTorch and serves any torch release. The forward is the op core's
// per-window math (sortpool_core.h), the same the ONNX Runtime op runs. The backward ranks each
// window's cells again, routes each rank's gradient to its one cell and sums the weights'
// gradients in float64.
//
// Rank order (docs/operator.md, "Training: gradients"): NaN above every number, then by value,
// largest first; among equal values (+0 and -0 are equal) the cell earlier in the window,
// row-major, ranks first. Padded cells are not values and get no gradient.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SORTPOOL_TRAINING_API __attribute__((visibility("default")))

// Element type of x. The "accumulation type" of every other floating-point buffer is float64
// for float64 input and float32 otherwise.
enum SortpoolTrainingDtype {
    SORTPOOL_TRAINING_FLOAT32 = 0,
    SORTPOOL_TRAINING_FLOAT64 = 1,
    SORTPOOL_TRAINING_FLOAT16 = 2,  // IEEE binary16 bits
    SORTPOOL_TRAINING_BFLOAT16 = 3  // bfloat16 bits
};

// The problem: planes = batch * channels contiguous in_h x in_w planes (plane p is channel
// p % channels); kernel, strides, the top and left pads and the output extent (the far-side
// pads and ceil_mode only decide out_h / out_w: windows are clipped to the input, so any extent
// reads in bounds); k ranks; weights hold k values (shared) or channels * k (per channel), in the
// accumulation type.
typedef struct {
    int64_t planes, channels, in_h, in_w;
    int64_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w;
    int64_t k, per_channel_weights;
} SortpoolTrainingProblem;

// Forward: y (planes x out_h x out_w, x's type). threads >= 1. Returns 0, or -1 with a message
// for sortpool_training_last_error().
SORTPOOL_TRAINING_API int sortpool_training_forward(int dtype, const SortpoolTrainingProblem* problem, const void* x,
                                                    const void* weights, void* y, int threads);

// Backward from grad_y (planes x out_h x out_w, accumulation type):
//   grad_x (planes x in_h x in_w, accumulation type) is overwritten with each rank's
//   grad_y * weight added to its cell;
//   grad_weights (planes x k, float64) with each plane's sum of grad_y * value per rank.
SORTPOOL_TRAINING_API int sortpool_training_backward(int dtype, const SortpoolTrainingProblem* problem, const void* x,
                                                     const void* weights, const void* grad_y, void* grad_x,
                                                     double* grad_weights, int threads);

// The message of this thread's last failed call ("" if none).
SORTPOOL_TRAINING_API const char* sortpool_training_last_error(void);

#ifdef __cplusplus
}
#endif

// sortedWeightedPoolShared.h - what the V2 (IPluginV2DynamicExt, version "1") and V3 (IPluginV3,
// version "2") plugins share beyond their fields: the output-shape expression, the type and
// format rules, the launch description and the enqueue body.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "common/deviceWeights.h"
#include "common/pluginErrors.h"
#include "common/trtHost.h"
#include "common/trtVersion.h"
#include "sortedWeightedPoolFields.h"
#include "sortedWeightedPoolKernel.h"

namespace sortpool {
namespace trt {

// Shapes, types, formats
// ---------------------------------------------------------------------------------------------
// Output dims as expressions: N, C and MaxPool's formula for H and W (ceil_mode included), equal to
// pooled_extent() for valid inputs and 0 for an empty axis. Returns false (after reporting) when
// the input is not rank 4. Templates over the expression types, which differ between TensorRT 8
// (common/trtV2Abi86.h) and 10+; the geometry constants fit in int32_t (the core bounds them).
template <class Builder>
using ExprOf = std::remove_pointer_t<decltype(std::declval<Builder&>().constant(0))>;  // IDimensionExpr const

// One axis of the above (exposed for the CPU test).
template <class Builder>
ExprOf<Builder>* pooledExtentExpr(ExprOf<Builder>& in, int64_t kernel, int64_t stride, int64_t padHead,
                                  int64_t padTail, int64_t ceilMode, Builder& eb) noexcept {
    // Mirrors pooled_extent() (MaxPool): span = in + pads - kernel;
    //   floor: out = span / s + 1     ceil: out = ceil(span / s) + 1, minus 1 unless (out - 1) * s < in + pad_head
    // then 0 when span < 0 (invalid, reported at configure time) or when the axis is empty.
    using Op = nvinfer1::DimensionOperation;
    using Expr = ExprOf<Builder>;
    auto c = [&](int64_t v) { return eb.constant(static_cast<int32_t>(v)); };
    auto op = [&](Op o, Expr* a, Expr* b) -> Expr* { return (a && b) ? eb.operation(o, *a, *b) : nullptr; };
    Expr* span = op(Op::kSUM, &in, c(padHead + padTail - kernel));
    Expr* out = nullptr;
    if (ceilMode) {
        Expr* q = op(Op::kCEIL_DIV, span, c(stride));  // out - 1 before the fix
        Expr* startsInside = op(Op::kLESS, op(Op::kPROD, q, c(stride)), op(Op::kSUM, &in, c(padHead)));
        out = op(Op::kSUM, q, startsInside);  // q + 1 if the last window starts inside, else q
    } else {
        out = op(Op::kSUM, op(Op::kFLOOR_DIV, span, c(stride)), c(1));
    }
    out = op(Op::kMAX, out, c(0));
    out = op(Op::kPROD, out, op(Op::kLESS, c(-1), span));  // span >= 0
    out = op(Op::kPROD, out, op(Op::kMIN, &in, c(1)));     // empty axis -> 0
    return out;
}

void reportBadRank(int32_t nbDims) noexcept;
void reportShapeExprFailure() noexcept;

template <class DimsExprsT, class Builder>
bool outputDimsExprs(PoolConfig const& cfg, DimsExprsT const& in, Builder& eb, DimsExprsT* out) noexcept {
    if (in.nbDims != 4) {
        reportBadRank(in.nbDims);
        return false;
    }
    PoolGeometry const& g = cfg.geometry;
    out->nbDims = 4;
    out->d[0] = in.d[0];
    out->d[1] = in.d[1];
    out->d[2] = pooledExtentExpr(*in.d[2], g.kernel_h, g.stride_h, g.pad_top, g.pad_bottom, g.ceil_mode, eb);
    out->d[3] = pooledExtentExpr(*in.d[3], g.kernel_w, g.stride_w, g.pad_left, g.pad_right, g.ceil_mode, eb);
    if (out->d[2] == nullptr || out->d[3] == nullptr) {
        reportShapeExprFailure();
        return false;
    }
    return true;
}

bool isSupportedType(nvinfer1::DataType t) noexcept;  // kFLOAT, kHALF, kBF16
bool toElementType(nvinfer1::DataType t, ElementType* out) noexcept;
// The format rule both plugin versions answer supportsFormatCombination with: position 0 (X) is
// linear float32/float16/bfloat16, position 1 (Y) is linear with X's type.
// `types` and `formats` hold the (input, output) pair's entries up to and including `pos`.
bool supportsCombination(int32_t pos, nvinfer1::DataType const* types, nvinfer1::TensorFormat const* formats,
                         int32_t nbInputs, int32_t nbOutputs) noexcept;

// Checks input dims known at build time (-1 = dynamic) against the config with the core's shape
// rule: rank, per-channel C, known spatial extents. Returns "" when nothing known is wrong.
std::string checkInputDims(PoolConfig const& cfg, nvinfer1::Dims const& in);

// Checks a concrete input/output pair against the config (rank, per-channel C, shape rule, types)
// and fills a launch description (pointers and weights excluded). Returns "" on success.
std::string describeLaunch(PoolConfig const& cfg, nvinfer1::PluginTensorDesc const& in,
                           nvinfer1::PluginTensorDesc const& out, PoolLaunch* launch);

// The body both plugins' enqueue share: checks the tensors against the config, fills the launch
// (weights inline or from `weights`) and enqueues the kernel on `stream`. `weightsHint` names what
// must have run for a per-channel weight buffer to exist; `version` is the calling plugin's.
// Returns 0, or 1 after reporting.
int32_t enqueuePooling(PoolConfig const& cfg, DeviceWeights const& weights, nvinfer1::PluginTensorDesc const* inputDesc,
                       nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs, void* const* outputs,
                       cudaStream_t stream, char const* weightsHint, char const* version) noexcept;

}  // namespace trt
}  // namespace sortpool

// const_expr_builder.h - an IExprBuilder over constants, for tests that call a plugin's
// output-shape methods without TensorRT: every expression is a constant, so the expression a
// plugin builds can be read back as a number.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <deque>

namespace sortpool {
namespace trt {
namespace testing {

// The value of a DimensionOperation on constants, as TensorRT defines the operations.
inline int64_t evalDimensionOperation(nvinfer1::DimensionOperation op, int64_t x, int64_t y) {
    using nvinfer1::DimensionOperation;
    auto floorDiv = [](int64_t p, int64_t q) {
        int64_t d = p / q;
        return (p % q != 0 && ((p < 0) != (q < 0))) ? d - 1 : d;
    };
    switch (op) {
    case DimensionOperation::kSUM: return x + y;
    case DimensionOperation::kPROD: return x * y;
    case DimensionOperation::kMAX: return x > y ? x : y;
    case DimensionOperation::kMIN: return x < y ? x : y;
    case DimensionOperation::kSUB: return x - y;
    case DimensionOperation::kEQUAL: return x == y;
    case DimensionOperation::kLESS: return x < y;
    case DimensionOperation::kFLOOR_DIV: return floorDiv(x, y);
    case DimensionOperation::kCEIL_DIV: return -floorDiv(-x, y);
    }
    return 0;
}

// Constant values are int64_t from TensorRT 10 on, int32_t before (the TensorRT 8.6 headers, with
// which tools/check_v2_abi.sh compiles v2_abi_check.cpp).
#if NV_TENSORRT_MAJOR >= 10
using ConstValue = int64_t;
#else
using ConstValue = int32_t;
#endif

class ConstExpr : public nvinfer1::IDimensionExpr {
    class Impl : public nvinfer1::apiv::VDimensionExpr {
    public:
        ConstValue v = 0;
        bool isConstant() const override { return true; }
        ConstValue getConstantValue() const override { return v; }
#if NV_TENSORRT_MAJOR >= 10
        bool isSizeTensor() const override { return false; }
#endif
    } mI;

public:
    explicit ConstExpr(int64_t v) {
        mI.v = static_cast<ConstValue>(v);
        mImpl = &mI;
    }
    ~ConstExpr() noexcept override = default;
};

class ConstBuilder : public nvinfer1::IExprBuilder {
    class Impl : public nvinfer1::apiv::VExprBuilder {
    public:
        std::deque<ConstExpr>* pool = nullptr;
        nvinfer1::IDimensionExpr const* constant(ConstValue v) override { return &pool->emplace_back(v); }
        nvinfer1::IDimensionExpr const* operation(nvinfer1::DimensionOperation op, nvinfer1::IDimensionExpr const& a,
                                                  nvinfer1::IDimensionExpr const& b) override {
            return &pool->emplace_back(evalDimensionOperation(op, a.getConstantValue(), b.getConstantValue()));
        }
#if NV_TENSORRT_MAJOR >= 10
        nvinfer1::IDimensionExpr const* declareSizeTensor(int32_t, nvinfer1::IDimensionExpr const&,
                                                          nvinfer1::IDimensionExpr const&) override {
            return nullptr;
        }
#endif
    } mI;
    std::deque<ConstExpr> mPool;

public:
    ConstBuilder() {
        mI.pool = &mPool;
        mImpl = &mI;
    }
    ~ConstBuilder() noexcept override = default;
};

}  // namespace testing
}  // namespace trt
}  // namespace sortpool

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

class ConstExpr : public nvinfer1::IDimensionExpr {
    class Impl : public nvinfer1::apiv::VDimensionExpr {
    public:
        int64_t v = 0;
        bool isConstant() const override { return true; }
        int64_t getConstantValue() const override { return v; }
        bool isSizeTensor() const override { return false; }
    } mI;

public:
    explicit ConstExpr(int64_t v) {
        mI.v = v;
        mImpl = &mI;
    }
    ~ConstExpr() noexcept override = default;
};

class ConstBuilder : public nvinfer1::IExprBuilder {
    class Impl : public nvinfer1::apiv::VExprBuilder {
    public:
        std::deque<ConstExpr>* pool = nullptr;
        nvinfer1::IDimensionExpr const* constant(int64_t v) override { return &pool->emplace_back(v); }
        nvinfer1::IDimensionExpr const* operation(nvinfer1::DimensionOperation op, nvinfer1::IDimensionExpr const& a,
                                                  nvinfer1::IDimensionExpr const& b) override {
            using nvinfer1::DimensionOperation;
            int64_t const x = a.getConstantValue(), y = b.getConstantValue();
            auto floorDiv = [](int64_t p, int64_t q) {
                int64_t d = p / q;
                return (p % q != 0 && ((p < 0) != (q < 0))) ? d - 1 : d;
            };
            int64_t r = 0;
            switch (op) {
            case DimensionOperation::kSUM: r = x + y; break;
            case DimensionOperation::kPROD: r = x * y; break;
            case DimensionOperation::kMAX: r = x > y ? x : y; break;
            case DimensionOperation::kMIN: r = x < y ? x : y; break;
            case DimensionOperation::kSUB: r = x - y; break;
            case DimensionOperation::kEQUAL: r = x == y; break;
            case DimensionOperation::kLESS: r = x < y; break;
            case DimensionOperation::kFLOOR_DIV: r = floorDiv(x, y); break;
            case DimensionOperation::kCEIL_DIV: r = -floorDiv(-x, y); break;
            }
            return &pool->emplace_back(r);
        }
        nvinfer1::IDimensionExpr const* declareSizeTensor(int32_t, nvinfer1::IDimensionExpr const&,
                                                          nvinfer1::IDimensionExpr const&) override {
            return nullptr;
        }
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

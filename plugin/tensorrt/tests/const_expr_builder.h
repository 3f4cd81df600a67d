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

// The expression classes of one TensorRT version: the public ones (IExpr, IBuilder), the
// implementation ones they call (VExpr, VBuilder), the constant type (int64_t from TensorRT 10 on,
// int32_t before) and whether the implementation classes have the size-tensor members (10 on).
template <class IExprT, class VExprT, class IBuilderT, class VBuilderT, class ValueT, bool kSizeTensorsT>
struct ExprTypes {
    using IExpr = IExprT;
    using VExpr = VExprT;
    using IBuilder = IBuilderT;
    using VBuilder = VBuilderT;
    using Value = ValueT;
    static constexpr bool kSizeTensors = kSizeTensorsT;
};

// The size-tensor members of TensorRT 10's implementation classes (nothing before).
template <class T, bool = T::kSizeTensors>
struct ExprImplBase : T::VExpr {};
template <class T>
struct ExprImplBase<T, true> : T::VExpr {
    bool isSizeTensor() const override { return false; }
};
template <class T, bool = T::kSizeTensors>
struct BuilderImplBase : T::VBuilder {};
template <class T>
struct BuilderImplBase<T, true> : T::VBuilder {
    typename T::IExpr const* declareSizeTensor(int32_t, typename T::IExpr const&, typename T::IExpr const&) override {
        return nullptr;
    }
};

template <class T>
class BasicConstExpr : public T::IExpr {
    class Impl : public ExprImplBase<T> {
    public:
        typename T::Value v = 0;
        bool isConstant() const override { return true; }
        typename T::Value getConstantValue() const override { return v; }
    } mI;

public:
    explicit BasicConstExpr(int64_t v) {
        mI.v = static_cast<typename T::Value>(v);
        this->mImpl = &mI;
    }
    ~BasicConstExpr() noexcept override = default;
};

template <class T>
class BasicConstBuilder : public T::IBuilder {
    class Impl : public BuilderImplBase<T> {
    public:
        std::deque<BasicConstExpr<T>>* pool = nullptr;
        typename T::IExpr const* constant(typename T::Value v) override { return &pool->emplace_back(v); }
        typename T::IExpr const* operation(nvinfer1::DimensionOperation op, typename T::IExpr const& a,
                                           typename T::IExpr const& b) override {
            return &pool->emplace_back(evalDimensionOperation(op, a.getConstantValue(), b.getConstantValue()));
        }
    } mI;
    std::deque<BasicConstExpr<T>> mPool;

public:
    BasicConstBuilder() {
        mI.pool = &mPool;
        this->mImpl = &mI;
    }
    ~BasicConstBuilder() noexcept override = default;
};

// The headers' expression classes (TensorRT 10 and 11; 8.x/9.x when compiled against those headers,
// as tools/check_v2_abi.sh does).
#if NV_TENSORRT_MAJOR >= 10
using HeaderExprTypes = ExprTypes<nvinfer1::IDimensionExpr, nvinfer1::apiv::VDimensionExpr, nvinfer1::IExprBuilder,
                                  nvinfer1::apiv::VExprBuilder, int64_t, true>;
#else
using HeaderExprTypes = ExprTypes<nvinfer1::IDimensionExpr, nvinfer1::apiv::VDimensionExpr, nvinfer1::IExprBuilder,
                                  nvinfer1::apiv::VExprBuilder, int32_t, false>;
#endif
using ConstExpr = BasicConstExpr<HeaderExprTypes>;
using ConstBuilder = BasicConstBuilder<HeaderExprTypes>;

}  // namespace testing
}  // namespace trt
}  // namespace sortpool

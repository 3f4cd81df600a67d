// sortedWeightedPoolDivide.h - division of 64-bit indices by a divisor fixed at launch, without a division
// instruction (a 64-bit division is a long emulated sequence on the GPU; a kernel that divides
// every index by the same number does better with one multiply-high, an add and two shifts).
//
// Method: Granlund and Montgomery, "Division by Invariant Integers using Multiplication" (PLDI
// 1994), section 4, the form exact for every unsigned numerator: with l = ceil(log2 d) and
// m = floor(2^64 * (2^l - d) / d) + 1, n / d = (t + ((n - t) >> min(l, 1))) >> max(l - 1, 0)
// where t = the high 64 bits of m * n. Host and device code: the CPU test checks it against the
// `/` operator.
#pragma once

#include <cassert>
#include <cstdint>

#include "sortpool_core.h"

namespace sortpool {
namespace trt {

class DivideByConstant {
public:
    DivideByConstant() = default;
    // Any divisor >= 1 (the callers divide by positive extents).
    explicit DivideByConstant(uint64_t divisor) : divisor_(divisor) {
        assert(divisor >= 1);
        uint32_t l = 0;
        while (l < 64 && (uint64_t{1} << l) < divisor) ++l;  // ceil(log2 divisor)
        const unsigned __int128 excess = (static_cast<unsigned __int128>(1) << l) - divisor;  // < divisor
        magic_ = static_cast<uint64_t>((excess << 64) / divisor + 1);
        shift1_ = l < 1 ? l : 1;
        shift2_ = l > 1 ? l - 1 : 0;
    }

    SORTPOOL_HD uint64_t divisor() const { return divisor_; }

    SORTPOOL_HD uint64_t quotient(uint64_t n) const {
        const uint64_t t = mulHigh(magic_, n);
        return (t + ((n - t) >> shift1_)) >> shift2_;
    }

private:
    static SORTPOOL_HD uint64_t mulHigh(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
        return __umul64hi(a, b);
#else
        return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
#endif
    }

    uint64_t divisor_ = 1;
    uint64_t magic_ = 1;  // divisor 1: t = 0, quotient = n
    uint32_t shift1_ = 0;
    uint32_t shift2_ = 0;
};

}  // namespace trt
}  // namespace sortpool

// fuzz_bytes.h - the fuzz targets' reader of libFuzzer's input: values taken in order, zero bytes
// once the input is used up (so every input, however short, is a complete test case).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sortpool_fuzz {

class Bytes {
   public:
    Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    template <typename T>
    T take() {
        T v{};
        const size_t n = std::min(sizeof(T), size_ - pos_);
        std::memcpy(&v, data_ + pos_, n);
        pos_ += n;
        return v;
    }
    uint8_t next() { return take<uint8_t>(); }
    size_t left() const { return size_ - pos_; }

   private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

}  // namespace sortpool_fuzz

// test_check.h - CHECK for the C++ test programs (core_test, the TensorRT plugin's cpu_test): each
// check is counted, a failing one prints its place and expression, and the program goes on, so one
// run reports every failure; finish_checks prints the counts and gives the exit status.
#pragma once

#include <cstdio>
#include <string>

namespace sortpool_test {

struct CheckCounts {
    int checks = 0;
    int failures = 0;
};

inline CheckCounts& check_counts() {
    static CheckCounts counts;
    return counts;
}

// Counts one check; a failure prints file:line, the expression and `detail` (when not null).
inline bool record_check(bool ok, const char* file, int line, const char* expression, const char* detail) {
    ++check_counts().checks;
    if (!ok) {
        ++check_counts().failures;
        if (detail != nullptr)
            std::fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", file, line, expression, detail);
        else
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expression);
    }
    return ok;
}

// "<program>: N checks, M failures"; 0 when nothing failed, 1 otherwise.
inline int finish_checks(const char* program) {
    const CheckCounts& c = check_counts();
    std::printf("%s: %d checks, %d failures\n", program, c.checks, c.failures);
    return c.failures == 0 ? 0 : 1;
}

}  // namespace sortpool_test

#define CHECK(cond) ::sortpool_test::record_check(static_cast<bool>(cond), __FILE__, __LINE__, #cond, nullptr)
// `msg` (a std::string or C string) is only evaluated when the check fails.
#define CHECK_MSG(cond, msg)                                                                          \
    do {                                                                                              \
        const bool check_ok_ = static_cast<bool>(cond);                                               \
        ::sortpool_test::record_check(check_ok_, __FILE__, __LINE__, #cond,                           \
                                      check_ok_ ? nullptr : std::string(msg).c_str());                \
    } while (0)

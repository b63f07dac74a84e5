#pragma once

// Helpers shared by the unit tests:
//  - ASSERT_OK / EXPECT_OK (x): `x` is a `caf::expected<T>` or a `caf::error`;
//    on failure they print the expression and `cairn::describe(error)`.
//  - ASSERT_ERR / EXPECT_ERR (x, cairn::ec::y): `x` must hold an error of code
//    `y`; on failure they print what it held instead.
//  - temp_dir: a fresh directory under /tmp, removed with its contents by the
//    destructor.
//  - random_bytes(n, seed): reproducible pseudo-random bytes.
//  - from_hex("00ff"): the bytes of a lowercase hex string.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <gtest/gtest.h>

#include "messages/bytes.hpp"
#include "messages/error.hpp"

namespace cairn::test {

// -- result inspection --------------------------------------------------------

/// Null if `x` holds a value, else a pointer to its error.
template <class T>
const caf::error* error_of(const caf::expected<T>& x) {
  return x ? nullptr : &x.error();
}

/// Null if `x` is no error, else `&x`.
inline const caf::error* error_of(const caf::error& x) {
  return x ? &x : nullptr;
}

/// Predicate-formatter of ASSERT_OK / EXPECT_OK.
template <class T>
::testing::AssertionResult is_ok(const char* expr, const T& x) {
  if (auto err = error_of(x))
    return ::testing::AssertionFailure()
           << expr << " failed with: " << ::cairn::describe(*err);
  return ::testing::AssertionSuccess();
}

/// Predicate-formatter of ASSERT_ERR / EXPECT_ERR.
template <class T>
::testing::AssertionResult is_err(const char* expr, const char* code_expr,
                                  const T& x, ::cairn::ec code) {
  auto err = error_of(x);
  if (err == nullptr)
    return ::testing::AssertionFailure()
           << expr << " succeeded, expected error " << ::cairn::to_string(code)
           << " (" << code_expr << ")";
  if (!::cairn::is(*err, code))
    return ::testing::AssertionFailure()
           << expr << " failed with: " << ::cairn::describe(*err)
           << ", expected " << ::cairn::to_string(code) << " (" << code_expr
           << ")";
  return ::testing::AssertionSuccess();
}

// -- temporary directories ----------------------------------------------------

/// A fresh directory under /tmp (mkdtemp); removed recursively on destruction.
class temp_dir {
public:
  explicit temp_dir(const std::string& prefix = "cairn-test") {
    std::string templ = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + templ);
    path_ = templ;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// The directory.
  const std::string& path() const { return path_; }

  /// `path()/name` (not created).
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

// -- data ---------------------------------------------------------------------

/// `n` pseudo-random bytes, the same for the same `seed`.
inline bytes random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen{seed};
  bytes out(n);
  size_t i = 0;
  while (i < n) {
    uint64_t x = gen();
    for (int j = 0; j < 8 && i < n; ++j, ++i)
      out[i] = static_cast<uint8_t>(x >> (8 * j));
  }
  return out;
}

inline bytes from_hex(const std::string& hex) {
  bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(
      static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

} // namespace cairn::test

// The error of `x` (a caf::expected<T> or caf::error) as text, for messages.
#define CAIRN_DESCRIBE(x)                                                      \
  (::cairn::test::error_of(x) ? ::cairn::describe(*::cairn::test::error_of(x)) \
                              : std::string{"ok"})

#define ASSERT_OK(x) ASSERT_PRED_FORMAT1(::cairn::test::is_ok, x)
#define EXPECT_OK(x) EXPECT_PRED_FORMAT1(::cairn::test::is_ok, x)
#define ASSERT_ERR(x, code) ASSERT_PRED_FORMAT2(::cairn::test::is_err, x, code)
#define EXPECT_ERR(x, code) EXPECT_PRED_FORMAT2(::cairn::test::is_err, x, code)

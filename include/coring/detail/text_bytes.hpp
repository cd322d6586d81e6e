// SPDX-License-Identifier: MIT
// Text as bytes for the write_all overloads that take characters: anything a std::string_view
// accepts (a std::string, a literal: without its terminating NUL) or, failing that, anything a
// std::span<const char> accepts (a std::vector<char>, a std::span<char>). The bytes are viewed,
// never copied: they must stay alive as long as the span would.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>

namespace coring::detail {

template <class T>
concept text_like =
    std::convertible_to<const T&, std::string_view> || std::convertible_to<const T&, std::span<const char>>;

template <text_like T>
std::span<const std::byte> text_bytes(const T& text) noexcept {
  if constexpr (std::convertible_to<const T&, std::string_view>) {
    const std::string_view view = text;
    return std::as_bytes(std::span<const char>(view.data(), view.size()));
  } else {
    return std::as_bytes(std::span<const char>(text));
  }
}

}  // namespace coring::detail

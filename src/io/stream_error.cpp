// SPDX-License-Identifier: MIT
#include "coring/stream_error.hpp"

#include <string>

namespace coring {

namespace {

class stream_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coring.stream"; }
  std::string message(int code) const override {
    switch (static_cast<stream_errc>(code)) {
      case stream_errc::end_of_stream:
        return "end of stream";
      case stream_errc::unexpected_end_of_stream:
        return "unexpected end of stream (inside a record)";
      case stream_errc::too_long:
        return "record longer than the buffer's limit";
      case stream_errc::unflushed_data:
        return "buffered data was never flushed";
    }
    return "unknown coring.stream error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& stream_category() noexcept {
  static const stream_error_category category;
  return category;
}

}  // namespace coring

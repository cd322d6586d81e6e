// SPDX-License-Identifier: MIT
// Which file a descriptor number names, as far as the epoll backend needs to know: a process-wide
// counter per descriptor, bumped whenever coring closes the descriptor or hands it to its caller
// (forget_descriptor() in coring/detail/unique_fd.hpp). The epoll backend keeps an edge-triggered
// registration for a descriptor only while its count is the one it registered under: a closed
// descriptor's number comes back for a new file that epoll does not watch yet.
//
// Thread safety: any thread. Cost: one relaxed load to read, one atomic add to bump.
#pragma once

#include <cstdint>

namespace coring::detail {

/// A count that is never a descriptor's: the descriptor is not tracked (too large, or the table
/// could not be grown), so no registration of it may be trusted across parks.
inline constexpr std::uint32_t untracked_generation = 0xffffffff;

/// The descriptor's count now, or untracked_generation.
std::uint32_t descriptor_generation(int fd) noexcept;

}  // namespace coring::detail

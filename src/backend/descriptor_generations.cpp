// SPDX-License-Identifier: MIT
#include "backend/descriptor_generations.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <new>

#include "coring/detail/unique_fd.hpp"

namespace coring::detail {

namespace {

// Descriptors up to 2^20 (Linux's default hard RLIMIT_NOFILE), in chunks made when first bumped.
constexpr std::size_t chunk_size = 4096;
constexpr std::size_t chunk_count = 256;

std::array<std::atomic<std::atomic<std::uint32_t>*>, chunk_count> chunks{};
std::atomic<bool> untrackable{false};  // a chunk could not be made: trust no registration

std::atomic<std::uint32_t>* chunk_of(int fd, bool make) noexcept {
  const std::size_t index = static_cast<std::size_t>(fd) / chunk_size;
  std::atomic<std::uint32_t>* found = chunks[index].load(std::memory_order_acquire);
  if (found != nullptr || !make) return found;
  auto* made = new (std::nothrow) std::atomic<std::uint32_t>[chunk_size] {};
  if (made == nullptr) {
    untrackable.store(true, std::memory_order_relaxed);
    return nullptr;
  }
  std::atomic<std::uint32_t>* expected = nullptr;
  if (chunks[index].compare_exchange_strong(expected, made, std::memory_order_acq_rel)) return made;
  delete[] made;  // another thread made it first
  return expected;
}

bool tracked(int fd) noexcept {
  return fd >= 0 && static_cast<std::size_t>(fd) < chunk_size * chunk_count;
}

}  // namespace

std::uint32_t descriptor_generation(int fd) noexcept {
  if (!tracked(fd) || untrackable.load(std::memory_order_relaxed)) return untracked_generation;
  const std::atomic<std::uint32_t>* counts = chunk_of(fd, false);
  if (counts == nullptr) return 0;
  const std::uint32_t count =
      counts[static_cast<std::size_t>(fd) % chunk_size].load(std::memory_order_seq_cst);
  return count == untracked_generation ? 0 : count;
}

void forget_descriptor(int fd) noexcept {
  if (!tracked(fd)) return;
  std::atomic<std::uint32_t>* counts = chunk_of(fd, true);
  if (counts == nullptr) return;
  // Before the close: once the number can be handed out again, a new count is there to see.
  counts[static_cast<std::size_t>(fd) % chunk_size].fetch_add(1, std::memory_order_seq_cst);
}

}  // namespace coring::detail

// SPDX-License-Identifier: MIT
// glib_host: a GLib main loop that embeds a coring event_loop as a GSource.
//
// The GSource watches event_loop::native_handle() and tells GLib how long it may sleep from
// event_loop::next_timeout(); dispatching it calls event_loop::poll(). GLib owns the thread; coring
// serves a TCP echo on it, and a GLib timeout quits the main loop.
//
//   build/release/examples/glib_host              echo on 127.0.0.1:PORT (printed) for 30 s
//   build/release/examples/glib_host --self-test  a client thread echoes through it; exit 0 if
//                                                 every byte came back (run by CTest)
#include <glib-unix.h>
#include <glib.h>

#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdio>
#include <string_view>
#include <thread>

#include "host_echo.hpp"

namespace {

struct coring_source {
  GSource base;  // first: GLib hands out GSource*
  coring::event_loop* loop;
  gpointer fd_tag;
};

gboolean prepare(GSource* source, gint* timeout_ms) {
  auto* self = reinterpret_cast<coring_source*>(source);
  const auto timeout = self->loop->next_timeout();
  if (!timeout) {
    *timeout_ms = -1;  // only the descriptor can bring work
    return FALSE;
  }
  *timeout_ms = static_cast<gint>(std::chrono::ceil<std::chrono::milliseconds>(*timeout).count());
  return *timeout_ms == 0;
}

gboolean check(GSource* source) {
  auto* self = reinterpret_cast<coring_source*>(source);
  const auto timeout = self->loop->next_timeout();
  return (g_source_query_unix_fd(source, self->fd_tag) & G_IO_IN) != 0 || (timeout && timeout->count() == 0);
}

gboolean dispatch(GSource* source, GSourceFunc, gpointer) {
  reinterpret_cast<coring_source*>(source)->loop->poll();
  return G_SOURCE_CONTINUE;
}

GSourceFuncs coring_source_funcs = {prepare, check, dispatch, nullptr, nullptr, nullptr};

/// A GSource that drives `loop` from the thread running `context`.
GSource* make_coring_source(coring::event_loop& loop, GMainContext* context) {
  GSource* source = g_source_new(&coring_source_funcs, sizeof(coring_source));
  auto* self = reinterpret_cast<coring_source*>(source);
  self->loop = &loop;
  self->fd_tag = g_source_add_unix_fd(source, loop.native_handle(), G_IO_IN);
  g_source_attach(source, context);
  return source;
}

}  // namespace

int main(int argc, char** argv) {
  const bool self_test = argc > 1 && std::string_view(argv[1]) == "--self-test";
  coring::event_loop loop;
  auto listener = host_echo::listen();
  if (!listener) return 1;
  const std::uint16_t port = listener->local_endpoint().value().port();
  auto server = loop.spawn(host_echo::serve(std::move(*listener)));

  GMainLoop* main_loop = g_main_loop_new(nullptr, FALSE);
  GSource* source = make_coring_source(loop, nullptr);

  std::atomic<int> client_result{-1};
  std::thread client;
  if (self_test) {
    client = std::thread([&] {
      client_result = host_echo::run_client(port) ? 0 : 1;
      // Back on GLib's thread: quit once the client is done.
      g_idle_add(
          [](gpointer l) -> gboolean {
            g_main_loop_quit(static_cast<GMainLoop*>(l));
            return G_SOURCE_REMOVE;
          },
          main_loop);
    });
  } else {
    std::printf("glib_host: echo on 127.0.0.1:%u for 30 s\n", port);
  }
  // GLib's own timer ends the program (a hung self-test, or the 30 s of the demo).
  g_timeout_add_seconds(
      self_test ? 20 : 30,
      [](gpointer l) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop*>(l));
        return G_SOURCE_REMOVE;
      },
      main_loop);
  g_main_loop_run(main_loop);

  server.cancel();
  while (!server.done()) loop.poll();
  if (client.joinable()) client.join();
  g_source_destroy(source);
  g_source_unref(source);
  g_main_loop_unref(main_loop);
  return self_test ? (client_result.load() == 0 ? 0 : 1) : 0;
}

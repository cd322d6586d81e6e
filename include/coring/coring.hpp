// Everything coring offers, in one include.
#pragma once

#include "coring/event_loop.hpp"
#include "coring/executor.hpp"
#include "coring/file.hpp"
#include "coring/join_handle.hpp"
#include "coring/net/endpoint.hpp"
#include "coring/net/tcp_listener.hpp"
#include "coring/net/tcp_stream.hpp"
#include "coring/on.hpp"
#include "coring/result.hpp"
#include "coring/runtime.hpp"
#include "coring/runtime_metrics.hpp"
#include "coring/sleep.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

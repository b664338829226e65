// lb/control/log.hpp — structured logs as JSON lines: one object per event, machine-readable.
//
//   {"ts":"2026-11-23T06:41:07.123Z","level":"info","msg":"backend state","backend":"10.0.1.1:80","healthy":false}
//
// Thread-safe (one write per line under a mutex); events below the level are dropped before formatting.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>

namespace lb {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };
std::string_view to_string(LogLevel level);

using LogValue = std::variant<std::string, std::int64_t, std::uint64_t, double, bool>;
struct LogField {
  std::string_view key;
  LogValue value;
  // Conversions so call sites write {"port", 80} or {"name", name}.
  LogField(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, long v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, long long v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, unsigned v) : key(k), value(std::uint64_t{v}) {}
  LogField(std::string_view k, unsigned long v) : key(k), value(std::uint64_t{v}) {}
  LogField(std::string_view k, unsigned long long v) : key(k), value(std::uint64_t{v}) {}
};

struct LoggerOptions {
  LogLevel level = LogLevel::info;
  // Where lines go; defaults to stderr. Receives a complete line including the trailing '\n'.
  std::function<void(std::string_view)> sink{};
  // Clock for the "ts" field in ms since the epoch; defaults to the real clock (tests pin it).
  std::function<std::int64_t()> now_ms{};
};

class Logger {
 public:
  explicit Logger(LoggerOptions options = {});

  void set_level(LogLevel level);
  bool enabled(LogLevel level) const;
  void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
  void debug(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::debug, m, f); }
  void info(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::info, m, f); }
  void warn(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::warn, m, f); }
  void error(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::error, m, f); }

  // The line that log() would write (without the trailing newline); exposed for tests.
  std::string format(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) const;

 private:
  mutable std::mutex mutex_;
  LoggerOptions options_;
};

// "2026-11-23T06:41:07.123Z" for milliseconds since the epoch.
std::string iso8601_utc(std::int64_t ms_since_epoch);

}  // namespace lb

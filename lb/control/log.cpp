// JSON-lines logger (see log.hpp).
#include "lb/control/log.hpp"

#include <chrono>
#include <ctime>

#include "lb/control/json.hpp"

namespace lb {

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "unknown";
}

std::string iso8601_utc(std::int64_t ms_since_epoch) {
  const std::time_t seconds = static_cast<std::time_t>(ms_since_epoch / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char buf[96];  // sized for the widest ints snprintf could print
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms_since_epoch % 1000));
  return buf;
}

Logger::Logger(LoggerOptions options) : options_(std::move(options)) {
  if (!options_.sink)
    options_.sink = [](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fflush(stderr);
    };
  if (!options_.now_ms)
    options_.now_ms = [] {
      using namespace std::chrono;
      return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    };
}

void Logger::set_level(LogLevel level) {
  std::lock_guard lock(mutex_);
  options_.level = level;
}

bool Logger::enabled(LogLevel level) const {
  std::lock_guard lock(mutex_);
  return level >= options_.level;
}

std::string Logger::format(LogLevel level, std::string_view message,
                           std::initializer_list<LogField> fields) const {
  JsonWriter w;
  w.begin_object().field("ts", iso8601_utc(options_.now_ms())).field("level", to_string(level)).field("msg", message);
  for (const auto& f : fields) {
    w.key(f.key);
    std::visit([&w](const auto& v) { w.value(v); }, f.value);
  }
  w.end_object();
  return w.take();
}

void Logger::log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  std::string line = format(level, message, fields);
  line += '\n';
  std::lock_guard lock(mutex_);
  options_.sink(line);
}

}  // namespace lb

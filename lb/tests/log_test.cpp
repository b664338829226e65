// JSON-lines logger and the JSON writer under it.
#include "lb/control/log.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "lb/control/json.hpp"

namespace lb {
namespace {

TEST(JsonWriter, NestingCommasAndEscapes) {
  JsonWriter w;
  w.begin_object()
      .field("a", 1)
      .field("s", std::string_view("q\"\\\n\x01"))
      .key("list")
      .begin_array()
      .value(true)
      .value(2.5)
      .null()
      .begin_object()
      .end_object()
      .end_array()
      .field("neg", -3)
      .end_object();
  EXPECT_EQ(w.str(), R"({"a":1,"s":"q\"\\\n\u0001","list":[true,2.5,null,{}],"neg":-3})");
}

TEST(Logger, WritesOneJsonObjectPerLine) {
  std::vector<std::string> lines;
  Logger log({.level = LogLevel::info,
              .sink = [&](std::string_view line) { lines.emplace_back(line); },
              .now_ms = [] { return std::int64_t{1795416067123}; }});
  log.info("backend state", {{"backend", "10.0.1.1:80"}, {"healthy", false}, {"checks", 3u}});
  log.debug("hidden");
  log.error("bad \"thing\"");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            R"({"ts":"2026-11-23T06:41:07.123Z","level":"info","msg":"backend state","backend":"10.0.1.1:80",)"
            R"("healthy":false,"checks":3})"
            "\n");
  EXPECT_EQ(lines[1], R"({"ts":"2026-11-23T06:41:07.123Z","level":"error","msg":"bad \"thing\""})" "\n");
  log.set_level(LogLevel::debug);
  log.debug("shown", {{"n", -1}});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[2].find(R"("level":"debug","msg":"shown","n":-1})"), std::string::npos);
}

TEST(Logger, ConcurrentLinesStayWhole) {
  std::vector<std::string> lines;
  Logger log({.sink = [&](std::string_view line) { lines.emplace_back(line); }});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 200; ++i) log.info("tick", {{"thread", t}, {"i", i}});
    });
  for (auto& th : threads) th.join();
  ASSERT_EQ(lines.size(), 800u);
  for (const auto& line : lines) {
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.substr(line.size() - 2), "}\n");
  }
}

}  // namespace
}  // namespace lb

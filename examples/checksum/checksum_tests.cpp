// SPDX-License-Identifier: MIT
// checksum's pure parts: the output formats, the quoting of names in diagnostics (the expected
// strings are what GNU sha256sum 9.1 printed for the same names), the -c line parser, the option
// parser and the directory walk. No runtime: these link checksum_core only.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "check_line.hpp"
#include "format.hpp"
#include "options.hpp"
#include "tree.hpp"

using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

const std::string hex_a = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";  // sha256("a")
const std::string hex_upper = "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB";

checksum::parsed_line parse_one(std::string_view line) {
  checksum::check_parser parser;
  return parser.parse(line);
}

checksum::parsed_options parse_args(std::vector<std::string_view> args) {
  return checksum::parse_options(args);
}

}  // namespace

TEST_CASE("to_hex writes two lower-case digits per byte") {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  CHECK(checksum::to_hex(bytes) == "000fa0ff");
  CHECK(checksum::to_hex({}).empty());
}

TEST_CASE("a checksum line is the digest, two spaces and the name, as sha256sum writes it") {
  CHECK(checksum::format_sum_line(hex_a, "plain") == hex_a + "  plain\n");
  CHECK(checksum::format_sum_line(hex_a, "-") == hex_a + "  -\n");
  CHECK(checksum::format_sum_line(hex_a, " lead space") == hex_a + "   lead space\n");
  CHECK(checksum::format_sum_line(hex_a, "ü -dash") == hex_a + "  ü -dash\n");
}

TEST_CASE(
    "a name with a backslash, newline or carriage return starts the line with a backslash and is escaped") {
  CHECK(checksum::needs_escape("x\\y"));
  CHECK(checksum::needs_escape("n\nl"));
  CHECK(checksum::needs_escape("cr\rx"));
  CHECK_FALSE(checksum::needs_escape("plain name"));
  CHECK(checksum::format_sum_line(hex_a, "x\\y") == "\\" + hex_a + "  x\\\\y\n");
  CHECK(checksum::format_sum_line(hex_a, "n\nl") == "\\" + hex_a + "  n\\nl\n");
  CHECK(checksum::format_sum_line(hex_a, "both\\\nz") == "\\" + hex_a + "  both\\\\\\nz\n");
  CHECK(checksum::format_sum_line(hex_a, "back\\cr\r") == "\\" + hex_a + "  back\\\\cr\\r\n");
}

TEST_CASE("a -c status line escapes a name only when it holds a newline") {
  CHECK(checksum::format_check_line("plain", "OK") == "plain: OK\n");
  CHECK(checksum::format_check_line("x\\y", "OK") == "x\\y: OK\n");
  CHECK(checksum::format_check_line("cr\rx", "FAILED") == "cr\rx: FAILED\n");
  CHECK(checksum::format_check_line("both\\\nz", "OK") == "\\both\\\\\\nz: OK\n");
  CHECK(checksum::format_check_line("n\nl", "FAILED open or read") == "\\n\\nl: FAILED open or read\n");
}

TEST_CASE("names in diagnostics are quoted exactly as sha256sum quotes them") {
  struct example {
    std::string name;
    std::string quoted;
  };
  const std::vector<example> examples = {
      {"plain", "plain"},
      {"-dash", "-dash"},
      {"a,b", "a,b"},
      {"a~", "a~"},
      {"a#", "a#"},
      {"{}", "{}"},
      {"ü", "ü"},
      {"\xc2\xad", "\xc2\xad"},  // U+00AD is printable
      {"", "''"},
      {"a b", "'a b'"},
      {"x\\y", "'x\\y'"},
      {"a\"b", "'a\"b'"},
      {"~x", "'~x'"},
      {"#a", "'#a'"},
      {"#", "'#'"},
      {"{", "'{'"},
      {"a=b", "'a=b'"},
      {"a:b", "'a:b'"},
      {"a*b", "'a*b'"},
      {"ü b", "'ü b'"},
      {"it's", "\"it's\""},
      {"it's a", "\"it's a\""},
      {"it's:", "\"it's:\""},
      {"''", "\"''\""},
      {"#it's", "\"#it's\""},
      {"it's@", "\"it's@\""},
      {"it'sü", "\"it'sü\""},
      {"it's $x", "'it'\\''s $x'"},
      {"it's\"", "'it'\\''s\"'"},
      {"it's\\", "'it'\\''s\\'"},
      {"it's#", "'it'\\''s#'"},
      {"it's{", "'it'\\''s{'"},
      {"nl\nx", "'nl'$'\\n''x'"},
      {"cr\rx", "'cr'$'\\r''x'"},
      {"tab\tx", "'tab'$'\\t''x'"},
      {"\nx", "''$'\\n''x'"},
      {"x\n", "'x'$'\\n'"},
      {"\n", "''$'\\n'"},
      {"\n\n", "''$'\\n\\n'"},
      {"a\x01"
       "b",
       "'a'$'\\001''b'"},
      {"a\x7f"
       "b",
       "'a'$'\\177''b'"},
      {"\xff", "''$'\\377'"},
      {"a\xff"
       "b",
       "'a'$'\\377''b'"},
      {"\xc3", "''$'\\303'"},
      {"\xe2\x82x", "''$'\\342\\202''x'"},
      {"\xe2\x80\xa8", "''$'\\342\\200\\250'"},  // U+2028
      {"\xc2\x85", "''$'\\302\\205'"},           // U+0085, a C1 control
      {"\xed\xa0\x80", "''$'\\355\\240\\200'"},  // a surrogate: not UTF-8
      {"\x1b[0m", "''$'\\033''[0m'"},
      {"\a\b\f\v", "''$'\\a\\b\\f\\v'"},
      {"a\t"
       "b\tc",
       "'a'$'\\t''b'$'\\t''c'"},
      // A single quote together with something double quotes cannot hold: gnulib's second pass.
      {"it's\n", "'''it'\\''s'$'\\n'"},
      {"a'\nb", "'a'\\'''$'\\n''b'"},
      {"\n'", "''$'\\n'\\'''"},
      {"'\n", "''\\'''$'\\n'"},
      {"a\n'b\n", "'''a'$'\\n'\\''b'$'\\n'"},
  };
  for (const example& e : examples) {
    CAPTURE(e.name);
    CHECK(checksum::quote_name(e.name) == e.quoted);
  }
}

TEST_CASE("sha256sum's own lines parse, in text and binary mode") {
  const checksum::parsed_line text = parse_one(hex_a + "  plain\n");
  REQUIRE(text.kind == checksum::line_kind::entry);
  CHECK(text.entry == checksum::check_entry{hex_a, "plain", false});
  const checksum::parsed_line binary = parse_one(hex_upper + " *plain");
  REQUIRE(binary.kind == checksum::line_kind::entry);
  CHECK(binary.entry == checksum::check_entry{hex_upper, "plain", true});
}

TEST_CASE("leading blanks, a tab after the digest and a CRLF ending are accepted") {
  CHECK(parse_one("  \t" + hex_a + "  plain\n").entry.name == "plain");
  CHECK(parse_one(hex_a + "\t plain").entry.name == "plain");
  CHECK(parse_one(hex_a + "  plain\r\n").entry.name == "plain");
  CHECK(parse_one(hex_a + "  trailing space \n").entry.name == "trailing space ");
}

TEST_CASE("comment lines and empty lines are ignored, not malformed") {
  CHECK(parse_one("# a comment\n").kind == checksum::line_kind::ignored);
  CHECK(parse_one("#").kind == checksum::line_kind::ignored);
  CHECK(parse_one("\n").kind == checksum::line_kind::ignored);
  CHECK(parse_one("\r\n").kind == checksum::line_kind::ignored);
  CHECK(parse_one("").kind == checksum::line_kind::ignored);
  CHECK(parse_one(" # not a comment").kind == checksum::line_kind::malformed);
}

TEST_CASE("escaped names are unescaped; any other escape, a lone trailing backslash or a NUL is malformed") {
  CHECK(parse_one("\\" + hex_a + "  x\\\\y").entry.name == "x\\y");
  CHECK(parse_one("\\" + hex_a + "  n\\nl\\r").entry.name == "n\nl\r");
  CHECK(parse_one("\\" + hex_a + "  pl\\qain").kind == checksum::line_kind::malformed);
  CHECK(parse_one("\\" + hex_a + "  end\\").kind == checksum::line_kind::malformed);
  CHECK(parse_one("\\" + hex_a + "  nul\0x"s).kind == checksum::line_kind::malformed);
  // Without the leading backslash the name is taken as it is, up to a NUL.
  CHECK(parse_one(hex_a + "  x\\\\y").entry.name == "x\\\\y");
  CHECK(parse_one(hex_a + "  nul\0x"s).entry.name == "nul");
}

TEST_CASE("BSD-style lines parse, with or without the spaces, escaped or not") {
  const checksum::parsed_line bsd = parse_one("SHA256 (plain) = " + hex_a);
  REQUIRE(bsd.kind == checksum::line_kind::entry);
  CHECK(bsd.entry == checksum::check_entry{hex_a, "plain", false});
  CHECK(parse_one("SHA256(plain)= " + hex_a).entry.name == "plain");
  CHECK(parse_one("SHA256 (a (b) c) = " + hex_a).entry.name == "a (b) c");
  CHECK(parse_one("SHA256 () = " + hex_a).entry.name.empty());
  CHECK(parse_one("\\SHA256 (pl\\\\ain) = " + hex_a).entry.name == "pl\\ain");
  CHECK(parse_one("SHA256 (plain) = " + hex_a + "0").kind == checksum::line_kind::malformed);
  CHECK(parse_one("SHA256 (plain) " + hex_a).kind == checksum::line_kind::malformed);
  CHECK(parse_one("SHA256 plain = " + hex_a).kind == checksum::line_kind::malformed);
  CHECK(parse_one("SHA1 (plain) = " + hex_a).kind == checksum::line_kind::malformed);
  CHECK(parse_one("SHA256 (").kind == checksum::line_kind::malformed);
}

TEST_CASE("the one-space form is taken only while the file has not used sha256sum's own form") {
  checksum::check_parser reversed_first;
  CHECK(reversed_first.parse(hex_a + " plain").entry.name == "plain");
  // From then on a two-space line is the one-space form too: its name keeps the leading space.
  CHECK(reversed_first.parse(hex_a + "  plain").entry.name == " plain");
  CHECK(reversed_first.parse(hex_a + " *plain").entry.name == "*plain");

  checksum::check_parser standard_first;
  CHECK(standard_first.parse(hex_a + "  plain").entry.name == "plain");
  CHECK(standard_first.parse(hex_a + " plain").kind == checksum::line_kind::malformed);
  CHECK(standard_first.parse(hex_a + " *plain").entry.binary);
}

TEST_CASE("a line too short for a name, with a bad digest, or no blank after the digest is malformed") {
  CHECK(parse_one("garbage").kind == checksum::line_kind::malformed);
  CHECK(parse_one(hex_a + " ").kind == checksum::line_kind::malformed);
  CHECK(parse_one(hex_a + "x plain").kind == checksum::line_kind::malformed);
  std::string bad = hex_a;
  bad[10] = 'g';
  CHECK(parse_one(bad + "  plain").kind == checksum::line_kind::malformed);
  CHECK(parse_one(hex_a.substr(1) + "  plain").kind == checksum::line_kind::malformed);
  // The shortest accepted: digest, blank, one byte (a space, in the one-space form).
  CHECK(parse_one(hex_a + "  ").entry.name == " ");
  CHECK(parse_one(hex_a + " x").entry.name == "x");
}

TEST_CASE("every name sha256sum can write reads back the same through the -c parser") {
  for (const std::string& name : {"plain"s, "x\\y"s, "n\nl"s, "both\\\nz"s, "cr\rx"s, " lead"s, "*star"s,
                                  "ü"s, "-"s, "a  b"s, "SHA256 (x) = y"s, "\\"s}) {
    CAPTURE(name);
    std::string line = checksum::format_sum_line(hex_a, name);
    const checksum::parsed_line back = parse_one(line);
    REQUIRE(back.kind == checksum::line_kind::entry);
    CHECK(back.entry.name == name);
    CHECK(back.entry.hex == hex_a);
  }
}

TEST_CASE("digests compare without regard to the case of the expected one") {
  CHECK(checksum::hex_equal(hex_upper, hex_a));
  CHECK(checksum::hex_equal(hex_a, hex_a));
  std::string other = hex_a;
  other.back() = 'c';
  CHECK_FALSE(checksum::hex_equal(other, hex_a));
  CHECK_FALSE(checksum::hex_equal(hex_a.substr(1), hex_a));
}

TEST_CASE("for_each_line numbers the lines and keeps each one's newline") {
  std::vector<std::string> lines;
  std::vector<std::size_t> numbers;
  checksum::for_each_line("one\ntwo\r\n\nlast", [&](std::string_view line, std::size_t n) {
    lines.emplace_back(line);
    numbers.push_back(n);
  });
  CHECK(lines == std::vector<std::string>{"one\n", "two\r\n", "\n", "last"});
  CHECK(numbers == std::vector<std::size_t>{1, 2, 3, 4});
  int calls = 0;
  checksum::for_each_line("", [&](std::string_view, std::size_t) { ++calls; });
  CHECK(calls == 0);
}

TEST_CASE("no operand means standard input; '-' and everything after '--' are operands") {
  CHECK(parse_args({}).opts.paths == std::vector<std::string>{"-"});
  const checksum::parsed_options p = parse_args({"-r", "a", "-", "--", "-c", "--threads"});
  REQUIRE(p.error.empty());
  CHECK(p.opts.recursive);
  CHECK_FALSE(p.opts.check);
  CHECK(p.opts.paths == std::vector<std::string>{"a", "-", "-c", "--threads"});
}

TEST_CASE("options bundle, take their values in both forms, and -c's own options need -c") {
  const checksum::parsed_options bundled =
      parse_args({"-cw", "--quiet", "--strict", "--ignore-missing", "sums"});
  REQUIRE(bundled.error.empty());
  CHECK(bundled.opts.check);
  CHECK(bundled.opts.warn);
  CHECK(bundled.opts.quiet);
  CHECK(bundled.opts.strict);
  CHECK(bundled.opts.ignore_missing);
  CHECK(parse_args({"--threads", "3"}).opts.threads == 3);
  CHECK(parse_args({"--threads=7", "x"}).opts.threads == 7);
  CHECK(parse_args({"--check", "--status"}).opts.status);
  CHECK(parse_args({"--help"}).opts.help);
  CHECK_FALSE(parse_args({"--quiet", "x"}).error.empty());
  CHECK_FALSE(parse_args({"-w"}).error.empty());
}

TEST_CASE("unknown options, bad values and -r with -c are errors") {
  CHECK_FALSE(parse_args({"-x"}).error.empty());
  CHECK_FALSE(parse_args({"-rx"}).error.empty());
  CHECK_FALSE(parse_args({"--bogus"}).error.empty());
  CHECK_FALSE(parse_args({"--threads"}).error.empty());
  CHECK_FALSE(parse_args({"--threads", "0"}).error.empty());
  CHECK_FALSE(parse_args({"--threads", "2x"}).error.empty());
  CHECK_FALSE(parse_args({"--threads=-1"}).error.empty());
  CHECK_FALSE(parse_args({"--threads", "100000"}).error.empty());
  CHECK_FALSE(parse_args({"--recursive=yes"}).error.empty());
  CHECK_FALSE(parse_args({"-r", "-c", "x"}).error.empty());
  CHECK_FALSE(parse_args({"-rc", "x"}).error.empty());
  CHECK(parse_args({"--threads", "0"}).error.find("--threads") != std::string::npos);
}

TEST_CASE("list_files gives the files under a directory sorted by path bytes, links to files included") {
  namespace stdfs = std::filesystem;
  char pattern[] = "/tmp/checksum_tree_XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string root = pattern;
  const auto touch = [](const std::string& path, std::string_view text) { std::ofstream(path) << text; };
  stdfs::create_directories(root + "/a/b");
  stdfs::create_directories(root + "/z");
  touch(root + "/a-c", "1");
  touch(root + "/a/b/deep", "22");
  touch(root + "/a/file", "333");
  touch(root + "/B", "");
  touch(root + "/z/\xc3\xbc", "u");
  stdfs::create_symlink(root + "/a/file", root + "/link-to-file");
  stdfs::create_directory_symlink(root + "/a", root + "/link-to-dir");  // not followed
  stdfs::create_symlink(root + "/missing", root + "/dangling");         // left out
  REQUIRE(::mkfifo((root + "/fifo").c_str(), 0600) == 0);               // left out

  const std::vector<checksum::tree_entry> files = checksum::list_files(root + "/");
  std::vector<std::string> paths;
  for (const checksum::tree_entry& e : files) {
    CHECK_FALSE(e.error);
    paths.push_back(e.path.substr(root.size()));
  }
  CHECK(paths ==
        std::vector<std::string>{"/B", "/a-c", "/a/b/deep", "/a/file", "/link-to-file", "/z/\xc3\xbc"});
  CHECK(files[3].size == 3);
  CHECK(files[4].size == 3);  // the link's target
  stdfs::remove_all(root);
}

TEST_CASE("list_files of a directory that cannot be opened gives one entry with the error") {
  const std::vector<checksum::tree_entry> files = checksum::list_files("/nonexistent/checksum/dir");
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "/nonexistent/checksum/dir");
  CHECK(files[0].error == std::errc::no_such_file_or_directory);
}

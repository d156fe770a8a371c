// util/csv.h: RFC 4180 quoting, and a round trip through a small reader written from the
// RFC's grammar (section 2), so that what is written is what a reader gets back.
#include "util/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace matterfs {
namespace {

// RFC 4180 section 2's grammar: records end in CRLF; a quoted field may hold commas,
// CR, LF and doubled quotes. Fails the test on anything else.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '"') {
      ++i;
      for (;;) {
        if (i >= text.size()) {
          ADD_FAILURE() << "unterminated quoted field";
          return records;
        }
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.size() && text[i] != ',' && text[i] != '\r') {
        EXPECT_NE(text[i], '"') << "a quote in an unquoted field";
        EXPECT_NE(text[i], '\n') << "a bare LF in an unquoted field";
        field += text[i++];
      }
    }
    record.push_back(field);
    field.clear();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    EXPECT_EQ(text.substr(i, 2), "\r\n") << "a record must end in CRLF";
    i += 2;
    records.push_back(record);
    record.clear();
  }
  return records;
}

TEST(CsvTest, PlainFieldsAreWrittenAsTheyAre) {
  EXPECT_EQ(CsvField("brief.txt"), "brief.txt");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("two words"), "two words");
  EXPECT_EQ(CsvField("M\xc3\xbcller"), "M\xc3\xbcller") << "UTF-8 unchanged";
}

TEST(CsvTest, CommaQuoteCrAndLfAreQuoted) {
  EXPECT_EQ(CsvField("smith, john"), "\"smith, john\"");
  EXPECT_EQ(CsvField("the \"draft\""), "\"the \"\"draft\"\"\"");
  EXPECT_EQ(CsvField("\""), "\"\"\"\"");
  EXPECT_EQ(CsvField("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(CsvField("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(CsvField("a,\"b\"\r\n"), "\"a,\"\"b\"\"\r\n\"");
}

TEST(CsvTest, RecordsEndInCrLf) {
  EXPECT_EQ(CsvRecord({"a", "b,c", ""}), "a,\"b,c\",\r\n");
  EXPECT_EQ(CsvRecord({}), "\r\n");
}

TEST(CsvTest, WhatIsWrittenReadsBackUnchanged) {
  const std::vector<std::vector<std::string>> rows = {
      {"time", "path", "reason"},
      {"2026-12-01T09:30:00.000001Z", "pleadings/smith, \"final\".docx", "matter a: read = x"},
      {"", ",", "\""},
      {"multi\r\nline", "\n", "\r"},
      {"=1+1", " lead and trail ", "\x01\x7f"}};
  std::string text;
  for (const auto& r : rows) text += CsvRecord(r);
  EXPECT_EQ(ParseCsv(text), rows);
}

}  // namespace
}  // namespace matterfs

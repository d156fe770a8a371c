// CSV text as RFC 4180 writes it, for reports that people open in a spreadsheet
// (`matterctl audit report --format csv`). Written once here: no Debian CSV library fits.
//
//   - a field that contains a comma, a double quote, CR or LF is enclosed in double
//     quotes, and each double quote inside it is written twice ("a ""b"", c");
//   - any other field is written as it is (bytes unchanged: UTF-8 stays UTF-8);
//   - fields are separated by commas and every record ends in CRLF.
//
// Spreadsheets run a field that starts with =, +, - or @ as a formula; the data are not
// changed to prevent that (a report must show names as they are): see docs/AUDIT.md.
// Thread-safety: pure functions. Errors: none but std::bad_alloc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace matterfs {

// One field, quoted when RFC 4180 requires it.
std::string CsvField(std::string_view field);
// One record: the fields, each through CsvField, joined by "," and ending in "\r\n".
std::string CsvRecord(const std::vector<std::string>& fields);

}  // namespace matterfs

#include "fs/control/protocol.h"

#include <gtest/gtest.h>

namespace matterfs::control {
namespace {

TEST(ProtocolTest, RequestRoundTripsEveryByteInValues) {
  std::string every;
  for (int c = 1; c < 256; ++c) every.push_back(static_cast<char>(c));
  Request r{"break-glass", {{"matter", "acme v. smith = 100%"}, {"reason", every}}};
  const std::string wire = EncodeRequest(r);
  EXPECT_EQ(wire.find('\n'), wire.size() - 1);  // one line, whatever the values hold
  auto back = DecodeRequest(wire);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ("break-glass", back->command);
  EXPECT_EQ(r.args, back->args);
}

TEST(ProtocolTest, ResponseRoundTrips) {
  Response r;
  r.rows.push_back({{"kind", "matter"}, {"name", "acme-v-smith"}, {"status", "open"}});
  r.rows.push_back({{"kind", "break-glass"}, {"reason", "line\nbreak . and ."}});
  auto back = DecodeResponse(EncodeResponse(r));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(r.rows, back->rows);

  Response err;
  err.ok = false;
  err.code = "EACCES";
  err.message = "matter acme-v-smith: deny carol (ethical wall)";
  auto e = DecodeResponse(EncodeResponse(err));
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->ok);
  EXPECT_EQ("EACCES", e->code);
  EXPECT_EQ(err.message, e->message);
}

TEST(ProtocolTest, RejectsMalformedRequests) {
  const char* bad[] = {
      "",                           // empty
      "MFS1 status",                // no newline
      "MFS2 status\n",              // another protocol version
      "MFS1\n",                     // no command
      "MFS1 Status\n",              // bad character in command
      "MFS1 status key\n",          // no '='
      "MFS1 status =value\n",       // empty key
      "MFS1 status KEY=v\n",        // upper case key
      "MFS1 status k=%zz\n",        // bad escape
      "MFS1 status k=%4\n",         // truncated escape
      "MFS1 status k=a b=1 k=2\n",  // duplicate key
      "MFS1 status k=a\"b\n",       // unescaped byte in a value
      "MFS1status\n",               // no space after the magic
  };
  for (const char* line : bad) {
    EXPECT_FALSE(DecodeRequest(line).ok()) << "accepted: " << line;
  }
  EXPECT_FALSE(DecodeRequest("MFS1 status k=" + std::string(kMaxRequest, 'a') + "\n").ok());
}

TEST(ProtocolTest, RejectsMalformedResponses) {
  EXPECT_FALSE(DecodeResponse("").ok());
  EXPECT_FALSE(DecodeResponse("OK\n").ok());  // no terminating "."
  EXPECT_FALSE(DecodeResponse("HELLO\n.\n").ok());
  EXPECT_FALSE(DecodeResponse("OK\nnot a field\n.\n").ok());
}

TEST(ProtocolTest, PercentEncodingIsStrict) {
  EXPECT_EQ("a%20b%3D", PercentEncode("a b="));
  EXPECT_EQ(std::optional<std::string>("a b="), PercentDecode("a%20b%3D"));
  EXPECT_FALSE(PercentDecode("a b").has_value());
  EXPECT_FALSE(PercentDecode("%").has_value());
}

}  // namespace
}  // namespace matterfs::control

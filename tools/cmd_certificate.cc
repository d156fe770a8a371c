// matterctl: certificates of destruction (certificate verify).
#include <fcntl.h>

#include <iostream>

#include "fs/vault/certificate.h"
#include "tools/cli.h"
#include "util/file_io.h"

namespace matterfs::tools {

namespace {

std::string Count(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// `matterctl certificate verify VAULT CERT`: 0 and one line on stdout when CERT is a
// certificate of VAULT exactly as its key signed it; otherwise one line on stderr and
// 4 (edited, malformed, another vault's), 5 (no such vault or certificate), 6 (a newer
// certificate version) or 1 (unreadable).
int CertificateVerify(const po::variables_map& vm) {
  const std::string dir = vm["vault"].as<std::string>();
  const std::string path = vm["certificate"].as<std::string>();
  const vault::VaultConfig config = ReadConfigOnly(dir);
  const std::string context = "certificate verify: " + path;
  auto raw = ReadWholeFile(AT_FDCWD, path, vault::kMaxCertificateSize);
  if (!raw.ok() && raw.error().code() == Code::kNotFound) {
    throw Failure{kExitNotFound, context + ": no such file"};
  }
  if (!raw.ok() && raw.error().code() == Code::kInvalidArgument) {
    throw Failure{kExitCorrupt, context + ": not a certificate of destruction (over 64 KiB)"};
  }
  const Bytes text = Check(std::move(raw), context);
  const vault::DestructionCertificate c =
      Check(vault::VerifyCertificate(
                std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                config.vault_id, config.sign_public),
            context);
  std::cout << "valid: matter " << c.matter << " of vault " << ToHex(c.vault_id) << ", "
            << Count(c.files, "file", "files") << ", " << Count(c.bytes, "byte", "bytes")
            << ", destroyed " << FormatUnixTime(c.finished) << ", signed by the vault's key\n";
  return kExitOk;
}

}  // namespace

void AddCertificateCommands(Commands& cmds) {
  cmds.push_back({"certificate verify", "VAULT CERT",
                  "check a certificate of destruction against the vault's signing key",
                  [](auto& d, auto& p) {
                    d.add_options()("vault", po::value<std::string>()->required(),
                                    "the vault whose key signed it (no passphrase needed)")(
                        "certificate", po::value<std::string>()->required(),
                        "the certificate file");
                    p.add("vault", 1).add("certificate", 1);
                  },
                  CertificateVerify});
}

}  // namespace matterfs::tools

// Writes the seed corpus of every fuzz target: small valid encodings made with the fixed
// keys of fuzz_support.h (so they decrypt and authenticate in the targets), and
// near-valid ones (truncated, one field off). Run by `scripts/fuzz --make-corpus`:
//
//   make_corpus DIR SRC  writes DIR/<target>/<seed>, replacing seeds of the same name
//                        (SRC: the source tree, for examples/policy/firm.ini)
//
// Seeds with random nonces differ from run to run; what matters is that they are valid.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "audit/local_log.h"
#include "fs/control/protocol.h"
#include "fs/vault/certificate.h"
#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/keytable.h"
#include "fs/vault/names.h"
#include "tests/fuzz/fuzz_support.h"
#include "util/file_io.h"

using namespace matterfs;
namespace fsys = std::filesystem;

namespace {
fsys::path g_out;

void Seed(const std::string& target, const std::string& name, ByteSpan bytes) {
  const fsys::path dir = g_out / target;
  fsys::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}
void Seed(const std::string& target, const std::string& name, std::string_view text) {
  Seed(target, name, AsBytes(text));
}

Bytes ReadAll(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw std::runtime_error("fstat");
  Bytes b(static_cast<size_t>(st.st_size));
  auto got = PreadFull(fd, b.data(), b.size(), 0);
  if (!got.ok() || *got != b.size()) throw std::runtime_error("read back");
  return b;
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) throw std::runtime_error(std::string(what) + ": " + r.error().message());
  return std::move(r).value();
}
void Must(Status s, const char* what) {
  if (!s.ok()) throw std::runtime_error(std::string(what) + ": " + s.error().message());
}

void VaultConfig() {
  const auto vmk = fuzz::FixedMasterKey();
  vault::VaultConfig c;
  c.version = 2;  // the seeds of one copy; version 3 below
  c.vault_id = fuzz::FixedVaultId();
  const auto sign = fuzz::FixedSigningKey();
  std::memcpy(c.sign_public.data(), sign.public_key().data(), 32);
  c.wrapped_sign_secret.assign(104, 0x11);
  const auto cred = fuzz::FixedCredential();
  c.slots.push_back(Must(c.MakeSlot(vmk, cred, {0, 0}, 1700000000), "slot"));
  Seed("vault_config", "one-keyfile-slot", c.Serialize(vmk));
  // A second slot of another key file: Unlock tries both.
  vault::Credential other{vault::SlotKind::kKeyFile, crypto::SecureBuffer(40)};
  std::memset(other.secret.data(), 1, 40);
  c.slots.insert(c.slots.begin(), Must(c.MakeSlot(vmk, other, {0, 0}, 1700000001), "slot"));
  c.features = vault::kFeatureExternalKeystore;
  c.cipher = crypto::Cipher::kAes256Gcm;
  Bytes two = c.Serialize(vmk);
  Seed("vault_config", "two-slots-aes", two);
  two[12] = 0x80;  // an unknown feature (MAC fixed by the target)
  Seed("vault_config", "unknown-feature", two);
  Bytes v1 = c.Serialize(vmk);
  v1[8] = 1;  // format 1
  fuzz::FixUpConfig(v1);
  Seed("vault_config", "format1", v1);
  Seed("vault_config", "truncated", ByteSpan(v1).first(200));
  // Version 3: two copies, an escrow slot with its extension, then copy A damaged.
  vault::VaultConfig v3 = c;
  v3.version = vault::kTwoCopyConfigVersion;
  v3.features = 0;
  v3.slots.clear();
  v3.slots.push_back(Must(v3.MakeSlot(vmk, cred, {0, 0}, 1700000002), "slot"));
  crypto::EscrowPublicKey firm{};
  firm.fill(0x22);
  v3.slots.push_back(Must(v3.MakeEscrowSlot(vmk, firm, 1700000003), "escrow slot"));
  Bytes both = v3.Serialize(vmk);
  Seed("vault_config", "v3-keyfile-and-escrow", both);
  both[200] ^= 1;
  Seed("vault_config", "v3-copy-a-damaged", both);
}

void Keyring() {
  const fuzz::FixedKeyringKeys keys;
  for (uint32_t versions : {1u, 3u}) {
    vault::Keyring r = fuzz::FixedKeyring(versions);
    const Bytes a = r.SerializeCopy(keys.keys());
    r.sequence += 1;
    r.status = vault::MatterStatus::kHold;
    r.rotated = 1700000500;
    const Bytes b = r.SerializeCopy(keys.keys());
    Bytes file(a);
    file.insert(file.end(), b.begin(), b.end());
    Seed("keyring", "versions-" + std::to_string(versions), file);
  }
  vault::Keyring r = fuzz::FixedKeyring(16);
  Bytes a = r.SerializeCopy(keys.keys());
  Bytes file(a);
  file.insert(file.end(), a.begin(), a.end());
  Seed("keyring", "versions-16", file);
  file[vault::kKeyringCopySize + 10] = 9;  // copy B: an unknown status
  Seed("keyring", "bad-status-b", file);
}

// A backing file of `format` holding `plain`, written through the real data path.
Bytes EncryptedFile(const vault::FileFormat& format, ByteSpan plain, uint64_t sparse_gap) {
  const vault::Keyring ring = fuzz::FixedKeyring();
  UniqueFd fd = fuzz::MemFile(nullptr, 0);
  vault::OpenedFile f = Must(vault::WriteNewHeader(fd.get(), format, ring), "header");
  vault::CryptFile crypt(f.crypto, &f.header);
  uint64_t size = Must(crypt.Write(fd.get(), 0, 0, plain), "write");
  if (sparse_gap != 0) {
    size = Must(crypt.Write(fd.get(), size, size + sparse_gap, AsBytes("tail")), "write");
  }
  return ReadAll(fd.get());
}

// A format 2 or 3 header wrapping the fixed data key (so the target can fix up its MACs);
// format 3 with a recorded size and bound to the entry "ZW50cnk" (or unbound).
Bytes FixedKeyHeaderV2(crypto::Cipher cipher, std::vector<vault::HoleRange> holes,
                       uint8_t version = 2, bool unbound = false) {
  const vault::Keyring ring = fuzz::FixedKeyring();
  vault::FileHeader h;
  h.version = version;
  if (version >= 3) {
    h.recorded_size = 5000;
    h.unbound = unbound;
    if (!unbound) h.name_tag = vault::NameTagOf("ZW50cnk");
  }
  h.cipher = cipher;
  h.key_version = ring.current_version;
  h.sequence = 3;
  h.holes = std::move(holes);
  for (size_t i = 0; i < h.file_id.size(); ++i) h.file_id[i] = static_cast<uint8_t>(0x70 + i);
  const auto dek = fuzz::FixedDataKey();
  h.wrapped_dek =
      crypto::Wrap(*ring.wrap_keys.at(h.key_version), dek.bytes(), h.WrapAd(ring.matter_id));
  const auto fc = Must(vault::FileCrypto::FromKey(h, dek, ring.matter_id), "fc");
  const auto a = fc.SerializeCopy(h);
  h.sequence = 4;
  const auto b = fc.SerializeCopy(h);
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

void FileHeader() {
  using crypto::Cipher;
  const Bytes v1 = EncryptedFile({Cipher::kXChaCha20Poly1305, 1}, {}, 0);
  Seed("file_header", "format1-xchacha", ByteSpan(v1).first(vault::kHeaderSize));
  Seed("file_header", "format1-truncated", ByteSpan(v1).first(60));
  Seed("file_header", "format2-xchacha", FixedKeyHeaderV2(Cipher::kXChaCha20Poly1305, {}));
  Seed("file_header", "format2-holes",
       FixedKeyHeaderV2(Cipher::kXChaCha20Poly1305, {{0, 2}, {5, 1}, {100, 1000}}));
  Seed("file_header", "format2-aes", FixedKeyHeaderV2(Cipher::kAes256Gcm, {{1, 1}}));
  Bytes torn = FixedKeyHeaderV2(Cipher::kXChaCha20Poly1305, {});
  std::memset(torn.data(), 0, 100);  // copy A torn
  Seed("file_header", "format2-copy-a-torn", torn);
  Seed("file_header", "format3-bound", FixedKeyHeaderV2(Cipher::kXChaCha20Poly1305, {}, 3));
  Seed("file_header", "format3-unbound-holes",
       FixedKeyHeaderV2(Cipher::kAes256Gcm, {{0, 2}, {9, 3}}, 3, true));
}

void Block() {
  using crypto::Cipher;
  Bytes text;
  for (int i = 0; text.size() < 9000; ++i) {
    const std::string line = "line " + std::to_string(i) + " of the brief\n";
    text.insert(text.end(), line.begin(), line.end());
  }
  Seed("block", "empty", Bytes{});
  Seed("block", "format1-short",
       EncryptedFile({Cipher::kXChaCha20Poly1305, 1}, ByteSpan(text).first(10), 0));
  Seed("block", "format1-3-blocks", EncryptedFile({Cipher::kXChaCha20Poly1305, 1}, text, 0));
  Seed("block", "format1-aes",
       EncryptedFile({Cipher::kAes256Gcm, 1}, ByteSpan(text).first(5000), 0));
  Seed("block", "format2-2-blocks",
       EncryptedFile({Cipher::kXChaCha20Poly1305, 2}, ByteSpan(text).first(4097), 0));
  Seed("block", "format2-sparse",
       EncryptedFile({Cipher::kXChaCha20Poly1305, 2}, ByteSpan(text).first(100),
                     3 * vault::kBlockSize));
}

void Names() {
  const vault::NameKey key = fuzz::FixedKey<crypto::KeyPurpose::kName>(4);
  const vault::NameCodec codec(key);
  vault::DirIv iv{};
  for (size_t i = 0; i < iv.size(); ++i) iv[i] = static_cast<uint8_t>(i);
  auto with_iv = [&](std::string_view text) {
    Bytes b(iv.begin(), iv.end());
    b.insert(b.end(), text.begin(), text.end());
    return b;
  };
  const auto short_name = Must(codec.Encode(iv, "brief.docx"), "encode");
  Seed("names", "short", with_iv(short_name.entry));
  const auto long_name = Must(codec.Encode(iv, std::string(200, 'n')), "encode");
  Seed("names", "long-full", with_iv(*long_name.full));
  Seed("names", "long-entry", with_iv(long_name.entry));
  Seed("names", "symlink", with_iv(Must(codec.EncryptSymlink("../other/file.pdf"), "symlink")));
  Seed("names", "xattr-name", with_iv(Must(codec.EncryptXattrName("comment"), "xattr")));
  const Bytes value = codec.EncryptXattrValue("user.x", AsBytes("draft"));
  Seed("names", "xattr-value", with_iv(std::string(value.begin(), value.end())));
  Seed("names", "not-base64", with_iv("brief.docx"));

  // encrypted_dir: [n][.diriv bytes][side file / short entry]
  auto dir_seed = [&](ByteSpan diriv, std::string_view text) {
    Bytes b{static_cast<uint8_t>(diriv.size())};
    b.insert(b.end(), diriv.begin(), diriv.end());
    b.insert(b.end(), text.begin(), text.end());
    return b;
  };
  Seed("encrypted_dir", "short", dir_seed(iv, short_name.entry));
  Seed("encrypted_dir", "long", dir_seed(iv, *long_name.full));
  Seed("encrypted_dir", "iv-too-short", dir_seed(ByteSpan(iv).first(15), short_name.entry));
  Seed("encrypted_dir", "iv-too-long", dir_seed(Bytes(17, 1), short_name.entry));
}

void KeyTable() {
  const fsys::path dir = fsys::path(fuzz::ScratchDir()) / "keytable-gen";
  fsys::create_directories(dir);
  UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const vault::VaultSubkey wrap = fuzz::FixedKey<crypto::KeyPurpose::kVaultSub>(9);
  auto table = Must(vault::KeyTable::Open(dirfd.get(), fuzz::FixedVaultId(), true), "open");
  UniqueFd fd(::openat(dirfd.get(), vault::kKeyTableName, O_RDONLY | O_CLOEXEC));
  Seed("keytable", "empty-table", ReadAll(fd.get()));
  Must(table.Add(fuzz::FixedMatterId(), wrap), "add");
  Seed("keytable", "one-entry", ReadAll(fd.get()));
  vault::MatterId other = fuzz::FixedMatterId();
  other[0] ^= 1;
  Must(table.Add(other, wrap), "add");
  Must(table.Add(fuzz::FixedMatterId(), wrap), "add");
  Seed("keytable", "three-entries", ReadAll(fd.get()));
  Must(table.Destroy(0, fuzz::FixedMatterId()), "destroy");
  Seed("keytable", "first-wiped", ReadAll(fd.get()));
}

void Certificate() {
  vault::DestructionCertificate c;
  c.vault_id = fuzz::FixedVaultId();
  c.matter = "acme-v-smith";
  c.matter_id = fuzz::FixedMatterId();
  c.files = 3;
  c.bytes = 10245;
  c.key_versions_destroyed = {1, 2};
  c.method = "crypto-shred+overwrite";
  c.passes = 1;
  c.started = 1793610000;
  c.finished = 1793610007;
  c.operator_name = "root";
  c.host = "files1";
  c.caveats = {"Backups made before the wipe still hold the keys.",
               "caf\xC3\xA9 \xE2\x80\x94 \"q\""};
  const auto key = fuzz::FixedSigningKey();
  Seed("certificate", "signed", vault::SignCertificate(c, key));
  c.caveats.clear();
  c.key_versions_destroyed.clear();
  c.operator_name.clear();
  Seed("certificate", "minimal", vault::SignCertificate(c, key));
  const auto other = crypto::SigningKey::FromSeed(fuzz::FixedBytes(99));
  Seed("certificate", "other-key", vault::SignCertificate(c, other));
}

void AuditLog() {
  const auto key = fuzz::FixedSigningKey();
  const std::string path = fuzz::ScratchDir() + "/audit.log";
  {
    auto log = Must(audit::AuditLog::Open(path, key, {2, std::chrono::seconds(60)}), "open");
    for (int i = 0; i < 3; ++i) {
      audit::AuditEvent e;
      e.time = audit::AuditTime(std::chrono::microseconds(1793610000000000LL + i));
      e.host = "files1";
      e.event = "open";
      e.user = "bob";
      e.uid = 1001;
      e.matter = "acme-v-smith";
      e.path = "acme-v-smith/brief " + std::to_string(i) + ".docx";
      e.access = "read";
      Must(log->Append(e), "append");
    }
    Must(log->Close(), "close");
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const Bytes log = ReadAll(fd.get());
  Seed("audit_log", "records-and-checkpoints", log);
  Seed("audit_log", "cut-mid-line", ByteSpan(log).first(log.size() - 10));
  Seed("audit_log", "empty", Bytes{});
}

void Policy(const fsys::path& source) {
  std::ifstream in(source / "examples/policy/firm.ini", std::ios::binary);
  const std::string firm((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!firm.empty()) Seed("policy", "firm", firm);
  Seed("policy", "small",
       "[policy]\nhide_denied = yes\ncreate_matters = alice, @partners\nbreak_glass = bob\n"
       "break_glass_max = 4h\nbulk_threshold = 200\nbulk_window = 60s\naudit = strict\n"
       "audit_path = hash\nsyslog_facility = local3\naudit_log = /var/log/matterfs/audit.log\n\n"
       "[role lawyers]\nmembers = alice, bob until=2027-01-31\n\n"
       "[matter *]\nadmin = root\n\n"
       "[matter acme-v-smith]\nread = @staff\nwrite = lawyers\ndeny = carol\n");
  Seed("policy", "problems",
       "[matter a]\nread = nobody, lawyers\n[matter a]\nfoo = 1\n[role x]\nmembers = x\n");
}

void Control() {
  Seed("control", "request",
       control::EncodeRequest(
           {"break-glass", {{"matter", "acme v. smith"}, {"reason", "court\norder"}}}));
  Seed("control", "request-plain", control::EncodeRequest({"status", {}}));
  control::Response ok;
  ok.rows.push_back({{"kind", "matter"}, {"name", "acme"}, {"status", "hold"}});
  Seed("control", "response", control::EncodeResponse(ok));
  control::Response err;
  err.ok = false;
  err.code = "EACCES";
  err.message = "deny carol (ethical wall)";
  Seed("control", "response-error", control::EncodeResponse(err));
  Seed("control", "percent", "a%20b%2Fc%zz");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_corpus OUT_DIR SOURCE_DIR\n";
    return 2;
  }
  g_out = argv[1];
  try {
    VaultConfig();
    Keyring();
    FileHeader();
    Block();
    Names();
    KeyTable();
    Certificate();
    AuditLog();
    Policy(argv[2]);
    Control();
  } catch (const std::exception& e) {
    std::cerr << "make_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

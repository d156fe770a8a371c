// Extended attributes (ops.h): user.* only, inside matters, names and values encrypted
// with the matter's name key (docs/FORMAT.md "Extended attributes").
#include <sys/stat.h>
#include <sys/xattr.h>

#include <vector>

#include "fs/fuse/ops.h"

namespace matterfs::fuse {

namespace {

constexpr std::string_view kUserPrefix = "user.";

// Where an xattr call goes: the inode's /proc path, the stored name, and the keys.
struct XattrTarget {
  Inode* inode = nullptr;
  SharedFd fd;  // keeps the backing fd open for the caller's syscall
  std::string proc;
  std::string stored;  // "user." + encrypted name (empty for listxattr)
  std::shared_ptr<const vault::Matter> keys;
};

// -o noxattr: ENOSYS, which makes the kernel stop asking for the rest of the mount (it
// then fails every xattr call with EOPNOTSUPP itself, and no longer asks for
// security.capability before each write). True when it replied.
bool XattrsOff(fuse_req_t req) {
  if (!Fs(req)->no_xattr()) return false;
  fuse_reply_err(req, ENOSYS);
  return true;
}

// 0 or the errno: ENOTSUP outside a matter, for other namespaces and on symlinks;
// ENOENT once the matter is wiped; ERANGE for a name too long to store.
int Target(fuse_req_t req, fuse_ino_t ino, const char* name, XattrTarget* out) {
  MatterFs* fs = Fs(req);
  Inode* inode = In(req, ino);
  if (!inode->matter) return ENOTSUP;
  auto keys = KeysOf(inode);
  if (!keys.ok()) return keys.error().ToErrno();
  if (name != nullptr) {
    std::string_view n = name;
    if (n.substr(0, kUserPrefix.size()) != kUserPrefix || n.size() == kUserPrefix.size()) {
      return ENOTSUP;
    }
    auto enc = (*keys)->names().EncryptXattrName(n.substr(kUserPrefix.size()));
    if (!enc.ok()) return enc.error().ToErrno();
    out->stored = std::string(kUserPrefix) + *enc;
  }
  auto fd = fs->inodes().Fd(inode);
  if (!fd.ok()) return fd.error().ToErrno();
  if (S_ISLNK(inode->type)) return ENOTSUP;
  out->inode = inode;
  out->fd = *fd;
  out->proc = ProcPath((*fd)->get());
  out->keys = std::move(*keys);
  return 0;
}

}  // namespace

// setxattr: ENOTSUP, ERANGE (above); the policy (write); the backing call's errno.
void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  if (XattrsOff(req)) return;
  Guard(req, [&] {
    XattrTarget t;
    int err = Target(req, ino, name, &t);
    if (err != 0) return (void)fuse_reply_err(req, err);
    err = Authorize(req, t.inode, nullptr, policy::Action::kWrite, audit::audit_events::kSetxattr,
                    "write");
    if (err != 0) return (void)fuse_reply_err(req, err);
    Bytes sealed = t.keys->names().EncryptXattrValue(
        t.stored.substr(kUserPrefix.size()), {reinterpret_cast<const uint8_t*>(value), size});
    if (::setxattr(t.proc.c_str(), t.stored.c_str(), sealed.data(), sealed.size(), flags) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    fuse_reply_err(req, 0);
  });
}

// getxattr: ENODATA (also for what we do not store); the policy (read); ERANGE; EIO for a
// value that fails authentication (tamper event).
void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  if (XattrsOff(req)) return;
  Guard(req, [&] {
    XattrTarget t;
    int err = Target(req, ino, name, &t);
    if (err != 0) return (void)fuse_reply_err(req, err == ENOTSUP ? ENODATA : err);
    if (int denied = CheckRead(req, t.inode, "getxattr"); denied != 0) {
      return (void)fuse_reply_err(req, denied);
    }
    std::vector<uint8_t> sealed(65536 + 64);
    ssize_t n = ::getxattr(t.proc.c_str(), t.stored.c_str(), sealed.data(), sealed.size());
    if (n < 0) return (void)fuse_reply_err(req, errno);
    auto plain = t.keys->names().DecryptXattrValue(t.stored.substr(kUserPrefix.size()),
                                                   {sealed.data(), static_cast<size_t>(n)});
    if (!plain.ok()) {
      return Reply(req, Error(Code::kCorruption, "xattr value: " + plain.error().message()),
                   t.inode);
    }
    if (size == 0) return (void)fuse_reply_xattr(req, plain->size());
    if (size < plain->size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, reinterpret_cast<const char*>(plain->data()), plain->size());
  });
}

// listxattr: empty outside matters; the policy (read); ERANGE. Names that do not decrypt
// are left out.
void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  if (XattrsOff(req)) return;
  Guard(req, [&] {
    XattrTarget t;
    int err = Target(req, ino, nullptr, &t);
    if (err == ENOTSUP) {
      return (void)(size == 0 ? fuse_reply_xattr(req, 0) : fuse_reply_buf(req, nullptr, 0));
    }
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (int denied = CheckRead(req, t.inode, "listxattr"); denied != 0) {
      return (void)fuse_reply_err(req, denied);
    }
    std::vector<char> raw(65536);
    ssize_t n = ::listxattr(t.proc.c_str(), raw.data(), raw.size());
    if (n < 0) return (void)fuse_reply_err(req, errno);
    std::string out;
    for (ssize_t i = 0; i < n;) {
      std::string_view one(raw.data() + i);
      i += static_cast<ssize_t>(one.size()) + 1;
      if (one.substr(0, kUserPrefix.size()) != kUserPrefix) continue;
      auto plain = t.keys->names().DecryptXattrName(one.substr(kUserPrefix.size()));
      if (!plain.ok()) continue;
      out += std::string(kUserPrefix) + *plain;
      out.push_back('\0');
    }
    if (size == 0) return (void)fuse_reply_xattr(req, out.size());
    if (size < out.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, out.data(), out.size());
  });
}

// removexattr: ENODATA; the policy (write); the backing call's errno.
void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  if (XattrsOff(req)) return;
  Guard(req, [&] {
    XattrTarget t;
    int err = Target(req, ino, name, &t);
    if (err != 0) return (void)fuse_reply_err(req, err == ENOTSUP ? ENODATA : err);
    err = Authorize(req, t.inode, nullptr, policy::Action::kWrite,
                    audit::audit_events::kRemovexattr, "write");
    if (err != 0) return (void)fuse_reply_err(req, err);
    fuse_reply_err(req, ::removexattr(t.proc.c_str(), t.stored.c_str()) == 0 ? 0 : errno);
  });
}

}  // namespace matterfs::fuse

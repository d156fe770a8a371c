#include "fs/fuse/matterfs_fs.h"

#include <fcntl.h>

#include <cstring>

#include "fs/fuse/ops.h"

namespace matterfs::fuse {

namespace {

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  // No flush: writes reach the backing file before they are answered and locks are the
  // kernel's, so there is nothing to do at close. Without the op libfuse answers the
  // first FLUSH with ENOSYS and the kernel sends no more: one round trip less per close.
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  ops.create = OpCreate;
  ops.fallocate = OpFallocate;
  return ops;
}

}  // namespace

void OpInit(void* userdata, fuse_conn_info* conn) {
  (void)userdata;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  conn->max_write = vault::kMaxIo;
  conn->max_readahead = vault::kMaxIo;
}

MatterFs::MatterFs(std::unique_ptr<vault::Vault> vault, std::unique_ptr<AccessControl> access,
                   size_t max_fds, bool shared)
    : vault_(std::move(vault)),
      access_(std::move(access)),
      inodes_(UniqueFd(::openat(vault_->data_fd(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC)),
              max_fds),
      matters_(*vault_),
      shared_(shared) {
  matters_.SetEvictHook([this](const std::shared_ptr<LoadedMatter>& m) {
    // The kernel caches pages, attributes and names: drop all of this matter's, so that
    // nothing of it is served after its keys are gone.
    fuse_session* se = session_.load();
    if (se == nullptr) return;
    for (Inode* inode : inodes_.InodesOf(m.get())) {
      fuse_lowlevel_notify_inval_inode(se, Id(this, inode), 0, 0);
    }
    fuse_lowlevel_notify_inval_entry(se, FUSE_ROOT_ID, m->name().c_str(), m->name().size());
  });
  matters_.SetTamperHook(
      [this](const std::string& name, const Error& error) { ReportMatterTamper(name, error); });
}

MatterFs::~MatterFs() = default;

void MatterFs::ForgetRootEntries() {
  fuse_session* se = session_.load();
  if (se == nullptr || multi_user_) return;  // multi-user: root entries are never cached
  for (const auto& m : matters_.All()) {
    fuse_lowlevel_notify_inval_entry(se, FUSE_ROOT_ID, m->name().c_str(), m->name().size());
  }
}

const fuse_lowlevel_ops& MatterFs::Ops() {
  static const fuse_lowlevel_ops ops = MakeOps();
  return ops;
}

void MatterFs::ReportTamper(Inode* inode, const Error& error) {
  const std::string path = inodes_.PathOf(inode);
  log::Error("tamper: " + log::Path(path) + ": " + error.message());
  access_->Notice(audit::audit_events::kTamper, audit::AuditResult::kError,
                  audit::AuditSeverity::kAlert, nullptr, inode->matter ? inode->matter->name() : "",
                  error.message(), path);
}

void MatterFs::ReportTamperIn(Inode* dir, const std::string& entry, const Error& error) {
  const std::string path = inodes_.PathOf(dir);
  // The event's path goes through the audit path setting; the message names only the
  // backing entry (ciphertext), never a plaintext path.
  const std::string what = "directory entry " + entry + " does not decode: " + error.message();
  log::Error("tamper: " + log::Path(path) + ": entry " + entry + ": " + error.message());
  access_->Notice(audit::audit_events::kTamper, audit::AuditResult::kError,
                  audit::AuditSeverity::kAlert, nullptr, dir->matter ? dir->matter->name() : "",
                  what, path);
}

void MatterFs::ReportMatterTamper(const std::string& name, const Error& error) {
  // Paths in events are relative to the mount's root, like InodeTable::PathOf's.
  log::Error("tamper: " + log::Path(name) + ": " + error.message());
  access_->Notice(audit::audit_events::kTamper, audit::AuditResult::kError,
                  audit::AuditSeverity::kAlert, nullptr, name, error.message(), name);
}

std::optional<vault::MatterStatus> MatterFs::MatterStatusByName(const std::string& name) {
  if (matters_.Barred(name)) return std::nullopt;  // being wiped
  if (auto m = matters_.Find(name)) return m->status();
  auto info = vault_->FindMatter(name);
  if (!info.ok()) {
    if (info.error().code() == Code::kCorruption) ReportMatterTamper(name, info.error());
    return std::nullopt;
  }
  return info->status;
}

}  // namespace matterfs::fuse

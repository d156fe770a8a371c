// The one boundary between libfuse and the adapter's operations (only fs/fuse/ includes
// <fuse_lowlevel.h>).
//
// Every operation body runs inside Guard(): nothing thrown escapes into libfuse (a C
// library: a throw there kills the mount). A full secure key pool answers ENFILE (too
// many open files for this daemon), std::bad_alloc ENOMEM; any other
// exception answers EIO and logs one line. A body replies exactly once itself.
//
// Errors reach the kernel through Reply(req, error, inode) / Errno(fs, error, inode):
// the error's errno (Error::ToErrno), and for kCorruption a tamper event naming the
// inode and what failed (a block, a header, a name), so tampering is reported in one
// place and never twice.
// Thread-safety: stateless; called on libfuse's worker threads.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <new>
#include <string>

#include "crypto/secure_memory.h"
#include "fs/fuse/access.h"
#include "fs/fuse/matterfs_fs.h"
#include "util/log.h"
#include "util/result.h"

namespace matterfs::fuse {

inline MatterFs* Fs(fuse_req_t req) { return static_cast<MatterFs*>(fuse_req_userdata(req)); }

inline Inode* In(fuse_req_t req, fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? Fs(req)->inodes().root() : reinterpret_cast<Inode*>(ino);
}

inline fuse_ino_t Id(MatterFs* fs, Inode* inode) {
  return inode == fs->inodes().root() ? FUSE_ROOT_ID : reinterpret_cast<fuse_ino_t>(inode);
}

inline Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return {c->uid, c->gid, c->pid};
}

// The errno for `error`; a kCorruption error is reported as tampering with `inode`.
int Errno(MatterFs* fs, const Error& error, Inode* inode);
// Replies with Errno(...).
void Reply(fuse_req_t req, const Error& error, Inode* inode = nullptr);

template <typename F>
void Guard(fuse_req_t req, F&& body) noexcept {
  try {
    body();
  } catch (const crypto::PoolExhausted&) {
    // More open files than the daemon serves (--max-open-files): like a full file table.
    fuse_reply_err(req, ENFILE);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception& e) {
    log::Error(std::string("internal error: ") + e.what());
    fuse_reply_err(req, EIO);
  } catch (...) {
    log::Error("internal error: unknown exception");
    fuse_reply_err(req, EIO);
  }
}

}  // namespace matterfs::fuse

#include "fs/fuse/dispatch.h"

namespace matterfs::fuse {

int Errno(MatterFs* fs, const Error& error, Inode* inode) {
  if (error.code() == Code::kCorruption && inode != nullptr) fs->ReportTamper(inode, error);
  return error.ToErrno();
}

void Reply(fuse_req_t req, const Error& error, Inode* inode) {
  fuse_reply_err(req, Errno(Fs(req), error, inode));
}

}  // namespace matterfs::fuse

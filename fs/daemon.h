// The matterfs daemon's command line: `matterfs VAULT MOUNTPOINT [-f] [-d] [-o opts]
// [--passphrase-file F | --key-file F] [--keystore DIR]`, also in the form mount.fuse3
// uses for /etc/fstab (`matterfs SOURCE MOUNTPOINT -o opts`, with passphrase_file=,
// key_file= and keystore= accepted inside -o). Exit codes as matterctl's (docs/MATTERFS.md).
#pragma once

namespace matterfs::daemon {

int RunMatterfs(int argc, char** argv);

}  // namespace matterfs::daemon

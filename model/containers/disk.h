#pragma once
// The container's local disk: an in-memory filesystem, one per container instance, sized by the
// instance type (platform-facts §2: lite 2 GB ... standard-4 20 GB).
//
// Fault model. The disk is ephemeral (platform-facts §1.8, §8 item 11): every stop of the
// container — sleep after inactivity, crash, OOM, host restart, rollout, destroy() — ends with
// wipe(), which puts the filesystem back to exactly the image's files and closes every open file
// descriptor (a descriptor kept across a stop then fails with EBADF). What can go wrong while it
// runs: a write that would take the disk past its capacity fails with ENOSPC and changes nothing
// (all-or-nothing, no partial write), and the ordinary POSIX errors (ENOENT, EEXIST, ENOTDIR,
// EISDIR, ENOTEMPTY, EBADF, EINVAL). What the model promises: between two wipes it is a
// faithful, strongly consistent local filesystem — a write is visible to the next read at once,
// fsync is a no-op (the disk is gone at a stop whether synced or not, and survives everything
// else), operations take no virtual time, and nothing is corrupted or lost except by wipe().
//
// Paths are absolute and '/'-separated. They are normalised lexically: repeated '/', '.' and a
// trailing '/' are ignored, and '..' removes the previous component ("/a/../b" is "/b", "/.." is
// "/"), like Node's path.normalize — without checking that the removed component exists. A
// relative or empty path, or one containing a NUL byte, fails with EINVAL (exists() too).
//
// Capacity counts the bytes of file contents only: directories and file metadata cost nothing,
// and there is no block rounding (a 1-byte file uses 1 byte). The image's files count too (on the
// platform the image must fit the instance's disk). A file that was unlinked or replaced while a
// descriptor still has it open keeps its bytes until the last such descriptor is closed (POSIX).
// Holes (writing past the end, or truncate() growing a file) are zero-filled and counted.
//
// Directories cannot be opened with open() (EISDIR); use list(). Descriptors start at 3 (0-2 are
// stdio) and open() returns the lowest free one, as POSIX does.
//
// Trace (category "disk", each record with "container" = the owner label, for `cfsim explain`):
//   write  {container, path, op, bytes, size}  op = write_file | append_file | write (through a
//          descriptor) | truncate (truncate(), or open() with truncate) | create (open() creating an
//          empty file); bytes = bytes written by the call (0 for truncate and create); size = the
//          file's size afterwards. A write to an unlinked but still open file names "<path> (deleted)".
//   unlink {container, path}
//   rename {container, from, to}
//   wipe   {container, reason, files_lost, bytes_lost}, then one
//   lost   {container, path, bytes} per lost file, in path order.
// Reads, mkdir and rmdir are not recorded. Everything is deterministic (ordered maps only).

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sim/time.h"

namespace cfsim {

class Simulator;

enum class DiskErrc { enoent, eexist, enotdir, eisdir, enotempty, enospc, ebadf, einval };

const char* errno_name(DiskErrc c);    // "ENOENT"
const char* description(DiskErrc c);   // "no such file or directory" (Node.js wording)

// A failed filesystem call, worded as Node.js words it:
//   "ENOENT: no such file or directory, open '/data/db.sqlite'"
//   "ENOTEMPTY: directory not empty, rename '/a' -> '/b'"
//   "EBADF: bad file descriptor, read"
class DiskError : public std::runtime_error {
 public:
  DiskError(DiskErrc code, std::string_view syscall, std::string_view path = {}, std::string_view dest = {},
            std::string_view detail = {});
  DiskErrc code() const { return code_; }
  const char* errno_name() const { return cfsim::errno_name(code_); }
  const std::string& syscall() const { return syscall_; }
  const std::string& path() const { return path_; }  // as the caller gave it; "" for fd calls

 private:
  DiskErrc code_;
  std::string syscall_;
  std::string path_;
};

struct FileStat {
  int64_t size;  // bytes; 0 for a directory
  bool is_dir;
  Time mtime;    // last change of contents (a directory: last entry added or removed); image files: 0
};

struct OpenFlags {
  // read and/or write must be set; append and truncate need write; exclusive needs create.
  bool read = true, write = false, create = false, truncate = false, append = false, exclusive = false;
};

// What a wipe threw away: every file that exists just before the wipe and that the wipe does not
// restore as it was (a file not in the image, or an image file whose contents changed). Image
// files the app deleted come back, so they are not losses; nor are empty directories.
struct WipeReport {
  int64_t files_lost;
  int64_t bytes_lost;                   // sum of the lost files' sizes just before the wipe
  std::vector<std::string> paths_lost;  // sorted
};

class Disk {
 public:
  // `image_files` maps absolute paths to contents; their parent directories exist implicitly.
  // Throws std::invalid_argument if capacity_bytes < 0, an image path is not a valid absolute
  // path, one image path is a directory of another, or the image does not fit the capacity.
  Disk(Simulator& sim, std::string owner_label, int64_t capacity_bytes,
       std::map<std::string, std::string> image_files = {});
  ~Disk();
  Disk(const Disk&) = delete;
  Disk& operator=(const Disk&) = delete;

  // --- path API -----------------------------------------------------------------------------------
  void write_file(std::string_view path, std::string_view data);   // create or replace contents
  void append_file(std::string_view path, std::string_view data);  // create if missing
  std::string read_file(std::string_view path) const;
  bool exists(std::string_view path) const;  // false also when a component is a file
  FileStat stat(std::string_view path) const;
  std::vector<std::string> list(std::string_view dir) const;  // entry names, sorted by bytes
  void mkdir(std::string_view path, bool parents = false);     // parents: like mkdir -p
  void rmdir(std::string_view path);
  void unlink(std::string_view path);
  // POSIX rename: replaces an existing file (or empty directory, when moving a directory);
  // a file onto a directory is EISDIR, a directory onto a file ENOTDIR, onto a non-empty
  // directory ENOTEMPTY, into its own subtree EINVAL; renaming a path onto itself does nothing.
  void rename(std::string_view from, std::string_view to);
  void truncate(std::string_view path, int64_t size);  // shrink or zero-extend

  // --- descriptor API -----------------------------------------------------------------------------
  int open(std::string_view path, OpenFlags flags);
  std::string read(int fd, size_t n);              // up to n bytes from the position; "" at the end
  size_t write(int fd, std::string_view data);     // at the position (at the end with append)
  void seek(int fd, int64_t offset);               // absolute; may pass the end (a later write fills zeros)
  void close(int fd);
  void fsync(int fd);                              // no-op on local disk; still checks the fd

  // --- the disk as a whole ------------------------------------------------------------------------
  int64_t used_bytes() const { return used_bytes_; }
  int64_t capacity_bytes() const { return capacity_bytes_; }
  // Everything back to the image files; closes every descriptor. What every container stop does.
  WipeReport wipe(std::string_view reason);
  const std::string& owner() const { return owner_; }
  size_t open_fds() const { return fds_.size(); }

 private:
  struct Inode {
    std::string data;
    Time mtime;
    std::string path;     // where it is (or was last) linked, for trace records
    bool linked = true;   // false once unlinked or replaced by a rename
    int open_count = 0;   // descriptors referring to it
  };
  struct Node {
    bool is_dir = false;
    Time mtime;                   // a directory's; a file's own mtime is in its inode
    std::shared_ptr<Inode> file;  // null for a directory
  };
  struct OpenFile {
    std::shared_ptr<Inode> inode;
    int64_t pos = 0;
    bool read = false, write = false, append = false;
  };

  // Normalised path, or DiskError(EINVAL, syscall).
  static std::string normalise(std::string_view path, std::string_view syscall);
  static std::string parent_of(const std::string& norm);
  const Node* find(const std::string& norm) const;
  // The parent directory of `norm`, for creating or replacing an entry: ENOENT if it is missing,
  // ENOTDIR if a component is a file.
  Node& parent_dir(const std::string& norm, std::string_view syscall, std::string_view shown);
  // Throws ENOTDIR if a proper ancestor of `norm` is a file (lookups through a file).
  void check_ancestors(const std::string& norm, std::string_view syscall, std::string_view shown) const;
  // The existing file at `norm` (ENOENT / EISDIR / ENOTDIR otherwise).
  // (Inodes sit behind shared_ptr, so a const Disk can still hand out a mutable one.)
  Inode& existing_file(const std::string& norm, std::string_view syscall, std::string_view shown) const;
  bool has_children(const std::string& norm) const;
  void touch_parent(const std::string& norm);
  // Frees an inode's bytes if it is neither linked nor open.
  void release_if_orphan(const Inode& inode);
  // Removes the file entry at `norm` (which must be a file): unlinks its inode.
  void drop_file(std::map<std::string, Node>::iterator it);
  std::shared_ptr<Inode> new_file(const std::string& norm);
  void require_space(int64_t growth, std::string_view syscall, std::string_view shown) const;
  OpenFile& fd_entry(int fd, std::string_view syscall);
  void record_write(const Inode& inode, std::string_view op, int64_t bytes);
  void load_image();

  Simulator& sim_;
  std::string owner_;
  int64_t capacity_bytes_;
  std::map<std::string, std::string> image_;  // normalised
  std::map<std::string, Node> nodes_;         // normalised path -> entry; "/" always present
  std::map<int, OpenFile> fds_;
  int64_t used_bytes_ = 0;
};

}  // namespace cfsim

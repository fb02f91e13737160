// Unit and property tests for model/disk.h: the container's ephemeral disk. Every operation, every
// errno, the capacity limit at its boundary (exactly full passes, one byte more is ENOSPC and
// changes nothing), and the wipe at every stop that brings back the image exactly and reports
// what was lost (platform-facts §1.8 "Disk is ephemeral", §8 item 11). The property test runs
// random write/append/unlink/rename/truncate/wipe sequences against Disk and a std::map model.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §1.8 "Disk is ephemeral" and §8 item 11: /containers/concepts/architecture/ (A1), /containers/faq/ (A3)

#include "model/containers/disk.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/scheduler.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

// Runs fn and expects a DiskError with `code` whose message is exactly `message` (or, when
// `message` is empty, any message). Returns the message.
template <class F>
std::string expect_disk_error(F&& fn, DiskErrc code, const std::string& message = "") {
  try {
    fn();
  } catch (const DiskError& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_STREQ(e.errno_name(), errno_name(code));
    if (!message.empty()) {
      EXPECT_EQ(std::string(e.what()), message);
    }
    return e.what();
  }
  ADD_FAILURE() << "expected " << errno_name(code) << (message.empty() ? "" : ": " + message);
  return "";
}

class DiskTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemorySink> sink = std::make_shared<MemorySink>();
  Simulator sim{SimOptions{}, {sink}};

  // Moves virtual time to `t` (nothing else is scheduled).
  void advance_to(Time t) {
    sim.call_at(t, [] {});
    sim.run();
  }
  std::vector<Record> disk_records() const {
    std::vector<Record> out;
    for (const Record& r : sink->records)
      if (r.category == "disk") out.push_back(r);
    return out;
  }
  static int64_t int_field(const Record& r, const char* key) { return std::get<int64_t>(*r.field(key)); }
};

// --- paths and basic files ---------------------------------------------------------------------------

TEST_F(DiskTest, WriteReadReplaceAndStat) {
  Disk d(sim, "c1", 1000);
  EXPECT_EQ(d.owner(), "c1");
  EXPECT_EQ(d.capacity_bytes(), 1000);
  EXPECT_EQ(d.used_bytes(), 0);
  EXPECT_FALSE(d.exists("/notes.txt"));
  d.write_file("/notes.txt", "hello world");
  EXPECT_TRUE(d.exists("/notes.txt"));
  EXPECT_EQ(d.read_file("/notes.txt"), "hello world");
  EXPECT_EQ(d.used_bytes(), 11);
  d.write_file("/notes.txt", "bye");  // replace, not append
  EXPECT_EQ(d.read_file("/notes.txt"), "bye");
  EXPECT_EQ(d.used_bytes(), 3);
  FileStat s = d.stat("/notes.txt");
  EXPECT_EQ(s.size, 3);
  EXPECT_FALSE(s.is_dir);
  FileStat root = d.stat("/");
  EXPECT_TRUE(root.is_dir);
  EXPECT_EQ(root.size, 0);
  d.write_file("/empty", "");
  EXPECT_EQ(d.read_file("/empty"), "");
  EXPECT_EQ(d.stat("/empty").size, 0);
  EXPECT_EQ(d.list("/"), (std::vector<std::string>{"empty", "notes.txt"}));
}

TEST_F(DiskTest, AppendFileCreatesThenAppends) {
  Disk d(sim, "c1", 1000);
  d.append_file("/log", "a");
  d.append_file("/log", "bc");
  EXPECT_EQ(d.read_file("/log"), "abc");
  EXPECT_EQ(d.used_bytes(), 3);
}

TEST_F(DiskTest, BinaryContentsRoundTrip) {
  Disk d(sim, "c1", 1000);
  const std::string bin("a\0b\xff\0", 5);
  d.write_file("/bin", bin);
  EXPECT_EQ(d.read_file("/bin"), bin);
  EXPECT_EQ(d.used_bytes(), 5);
}

TEST_F(DiskTest, PathsAreNormalised) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/data");
  d.write_file("//data///db/", "x");  // '//' and a trailing '/' are fine
  EXPECT_EQ(d.read_file("/data/db"), "x");
  EXPECT_EQ(d.read_file("/data/./db"), "x");
  EXPECT_EQ(d.read_file("/data/nothing/../db"), "x");  // '..' is lexical, like path.normalize
  EXPECT_EQ(d.read_file("/../../data/db"), "x");        // '..' at the root stays at the root
  EXPECT_EQ(d.list("/data/"), std::vector<std::string>{"db"});
  EXPECT_TRUE(d.stat("/data/..").is_dir);
}

TEST_F(DiskTest, MalformedPathsAreEinval) {
  Disk d(sim, "c1", 1000);
  expect_disk_error([&] { d.read_file("data/x"); }, DiskErrc::einval,
                    "EINVAL: invalid argument, open 'data/x' (paths must be absolute)");
  expect_disk_error([&] { d.write_file("", "x"); }, DiskErrc::einval,
                    "EINVAL: invalid argument, open (paths must be absolute)");
  expect_disk_error([&] { d.exists(std::string_view("/a\0b", 4)); }, DiskErrc::einval,
                    "EINVAL: invalid argument, stat '/a\\0b' (paths must not contain a NUL byte)");
  expect_disk_error([&] { d.mkdir("x"); }, DiskErrc::einval);
  expect_disk_error([&] { d.rename("/a", "b"); }, DiskErrc::einval);
  EXPECT_EQ(d.used_bytes(), 0);
}

// --- each errno -------------------------------------------------------------------------------------------

TEST_F(DiskTest, EnoentForEveryOperationOnAMissingPath) {
  Disk d(sim, "c1", 1000);
  expect_disk_error([&] { d.read_file("/data/db.sqlite"); }, DiskErrc::enoent,
                    "ENOENT: no such file or directory, open '/data/db.sqlite'");
  try {
    d.read_file("/data//db.sqlite");
    ADD_FAILURE() << "expected ENOENT";
  } catch (const DiskError& e) {
    EXPECT_EQ(e.syscall(), "open");
    EXPECT_EQ(e.path(), "/data//db.sqlite");  // as the caller wrote it
  }
  expect_disk_error([&] { d.write_file("/data/db.sqlite", "x"); }, DiskErrc::enoent,
                    "ENOENT: no such file or directory, open '/data/db.sqlite'");  // parent missing
  expect_disk_error([&] { d.append_file("/data/log", "x"); }, DiskErrc::enoent);
  expect_disk_error([&] { d.stat("/nope"); }, DiskErrc::enoent, "ENOENT: no such file or directory, stat '/nope'");
  expect_disk_error([&] { d.list("/nope"); }, DiskErrc::enoent, "ENOENT: no such file or directory, scandir '/nope'");
  expect_disk_error([&] { d.mkdir("/a/b"); }, DiskErrc::enoent, "ENOENT: no such file or directory, mkdir '/a/b'");
  expect_disk_error([&] { d.rmdir("/nope"); }, DiskErrc::enoent, "ENOENT: no such file or directory, rmdir '/nope'");
  expect_disk_error([&] { d.unlink("/nope"); }, DiskErrc::enoent, "ENOENT: no such file or directory, unlink '/nope'");
  expect_disk_error([&] { d.rename("/nope", "/x"); }, DiskErrc::enoent,
                    "ENOENT: no such file or directory, rename '/nope' -> '/x'");
  d.write_file("/f", "1");
  expect_disk_error([&] { d.rename("/f", "/dir/f"); }, DiskErrc::enoent,
                    "ENOENT: no such file or directory, rename '/f' -> '/dir/f'");  // destination's parent
  expect_disk_error([&] { d.truncate("/nope", 0); }, DiskErrc::enoent,
                    "ENOENT: no such file or directory, truncate '/nope'");
  expect_disk_error([&] { d.open("/nope", OpenFlags{}); }, DiskErrc::enoent,
                    "ENOENT: no such file or directory, open '/nope'");
  EXPECT_FALSE(d.exists("/nope/deeper"));
  EXPECT_EQ(d.list("/"), std::vector<std::string>{"f"});  // nothing was created by the failures
}

TEST_F(DiskTest, Eexist) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/data");
  expect_disk_error([&] { d.mkdir("/data"); }, DiskErrc::eexist, "EEXIST: file already exists, mkdir '/data'");
  d.mkdir("/data", true);  // mkdir -p on an existing directory is fine
  d.write_file("/data/f", "x");
  expect_disk_error([&] { d.mkdir("/data/f", true); }, DiskErrc::eexist);  // but not on a file
  expect_disk_error([&] { d.mkdir("/"); }, DiskErrc::eexist);
  OpenFlags excl{.read = false, .write = true, .create = true, .exclusive = true};
  expect_disk_error([&] { d.open("/data/f", excl); }, DiskErrc::eexist, "EEXIST: file already exists, open '/data/f'");
  EXPECT_EQ(d.read_file("/data/f"), "x");
  int fd = d.open("/data/new", excl);  // exclusive create of a new file works
  EXPECT_GE(fd, 3);
  EXPECT_TRUE(d.exists("/data/new"));
}

TEST_F(DiskTest, EnotdirWhenAFileIsUsedAsADirectory) {
  Disk d(sim, "c1", 1000);
  d.write_file("/f", "x");
  expect_disk_error([&] { d.write_file("/f/x", "y"); }, DiskErrc::enotdir, "ENOTDIR: not a directory, open '/f/x'");
  expect_disk_error([&] { d.read_file("/f/x"); }, DiskErrc::enotdir);
  expect_disk_error([&] { d.stat("/f/x/y"); }, DiskErrc::enotdir);
  expect_disk_error([&] { d.list("/f"); }, DiskErrc::enotdir, "ENOTDIR: not a directory, scandir '/f'");
  expect_disk_error([&] { d.rmdir("/f"); }, DiskErrc::enotdir, "ENOTDIR: not a directory, rmdir '/f'");
  expect_disk_error([&] { d.mkdir("/f/sub"); }, DiskErrc::enotdir);
  expect_disk_error([&] { d.mkdir("/f/sub/deeper", true); }, DiskErrc::enotdir);
  d.mkdir("/dir");
  expect_disk_error([&] { d.rename("/dir", "/f"); }, DiskErrc::enotdir,
                    "ENOTDIR: not a directory, rename '/dir' -> '/f'");
  expect_disk_error([&] { d.rename("/f", "/f/g"); }, DiskErrc::enotdir);
  EXPECT_FALSE(d.exists("/f/x"));
  EXPECT_EQ(d.read_file("/f"), "x");
  EXPECT_TRUE(d.stat("/dir").is_dir);
}

TEST_F(DiskTest, EisdirWhenADirectoryIsUsedAsAFile) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/data");
  expect_disk_error([&] { d.read_file("/data"); }, DiskErrc::eisdir,
                    "EISDIR: illegal operation on a directory, open '/data'");
  expect_disk_error([&] { d.write_file("/data", "x"); }, DiskErrc::eisdir);
  expect_disk_error([&] { d.write_file("/", "x"); }, DiskErrc::eisdir);
  expect_disk_error([&] { d.append_file("/data", "x"); }, DiskErrc::eisdir);
  expect_disk_error([&] { d.unlink("/data"); }, DiskErrc::eisdir,
                    "EISDIR: illegal operation on a directory, unlink '/data'");
  expect_disk_error([&] { d.truncate("/data", 0); }, DiskErrc::eisdir);
  expect_disk_error([&] { d.open("/data", OpenFlags{}); }, DiskErrc::eisdir);
  d.write_file("/f", "x");
  expect_disk_error([&] { d.rename("/f", "/data"); }, DiskErrc::eisdir,
                    "EISDIR: illegal operation on a directory, rename '/f' -> '/data'");
  EXPECT_TRUE(d.stat("/data").is_dir);
  EXPECT_EQ(d.read_file("/f"), "x");
}

TEST_F(DiskTest, Enotempty) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/a");
  d.write_file("/a/f", "x");
  d.mkdir("/b");
  d.write_file("/b/g", "y");
  expect_disk_error([&] { d.rmdir("/a"); }, DiskErrc::enotempty, "ENOTEMPTY: directory not empty, rmdir '/a'");
  expect_disk_error([&] { d.rename("/a", "/b"); }, DiskErrc::enotempty,
                    "ENOTEMPTY: directory not empty, rename '/a' -> '/b'");
  // The root is never empty while it holds the source; a file onto it is EISDIR.
  expect_disk_error([&] { d.rename("/a", "/"); }, DiskErrc::enotempty);
  expect_disk_error([&] { d.rename("/a/f", "/"); }, DiskErrc::eisdir);
  expect_disk_error([&] { d.rename("/a/f", "/a"); }, DiskErrc::eisdir);
  EXPECT_EQ(d.read_file("/a/f"), "x");
  EXPECT_EQ(d.read_file("/b/g"), "y");
  d.unlink("/a/f");
  d.rmdir("/a");
  EXPECT_FALSE(d.exists("/a"));
}

TEST_F(DiskTest, Ebadf) {
  Disk d(sim, "c1", 1000);
  expect_disk_error([&] { d.read(3, 1); }, DiskErrc::ebadf, "EBADF: bad file descriptor, read (fd 3 is not open)");
  expect_disk_error([&] { d.write(7, "x"); }, DiskErrc::ebadf, "EBADF: bad file descriptor, write (fd 7 is not open)");
  expect_disk_error([&] { d.seek(-1, 0); }, DiskErrc::ebadf, "EBADF: bad file descriptor, lseek (fd -1 is not open)");
  expect_disk_error([&] { d.close(3); }, DiskErrc::ebadf, "EBADF: bad file descriptor, close (fd 3 is not open)");
  expect_disk_error([&] { d.fsync(3); }, DiskErrc::ebadf, "EBADF: bad file descriptor, fsync (fd 3 is not open)");
  d.write_file("/f", "abc");
  int ro = d.open("/f", OpenFlags{});
  expect_disk_error([&] { d.write(ro, "x"); }, DiskErrc::ebadf,
                    "EBADF: bad file descriptor, write (fd 3 is not open for writing)");
  int wo = d.open("/f", OpenFlags{.read = false, .write = true});
  expect_disk_error([&] { d.read(wo, 1); }, DiskErrc::ebadf,
                    "EBADF: bad file descriptor, read (fd 4 is not open for reading)");
  d.close(ro);
  expect_disk_error([&] { d.read(ro, 1); }, DiskErrc::ebadf);
  expect_disk_error([&] { d.close(ro); }, DiskErrc::ebadf);  // double close
  EXPECT_EQ(d.read_file("/f"), "abc");
}

TEST_F(DiskTest, Einval) {
  Disk d(sim, "c1", 1000);
  d.write_file("/f", "abc");
  expect_disk_error([&] { d.open("/f", OpenFlags{.read = false}); }, DiskErrc::einval,
                    "EINVAL: invalid argument, open '/f' (open needs read or write access)");
  expect_disk_error([&] { d.open("/f", OpenFlags{.truncate = true}); }, DiskErrc::einval,
                    "EINVAL: invalid argument, open '/f' (truncate and append need write access)");
  expect_disk_error([&] { d.open("/f", OpenFlags{.append = true}); }, DiskErrc::einval);
  expect_disk_error([&] { d.open("/f", OpenFlags{.write = true, .exclusive = true}); }, DiskErrc::einval,
                    "EINVAL: invalid argument, open '/f' (exclusive needs create)");
  expect_disk_error([&] { d.truncate("/f", -1); }, DiskErrc::einval,
                    "EINVAL: invalid argument, truncate '/f' (size -1 is negative)");
  int fd = d.open("/f", OpenFlags{});
  expect_disk_error([&] { d.seek(fd, -2); }, DiskErrc::einval,
                    "EINVAL: invalid argument, lseek (offset -2 is negative (fd 3))");
  expect_disk_error([&] { d.rmdir("/"); }, DiskErrc::einval,
                    "EINVAL: invalid argument, rmdir '/' (the root directory cannot be removed)");
  expect_disk_error([&] { d.rename("/", "/x"); }, DiskErrc::einval);
  d.mkdir("/a/b", true);
  expect_disk_error([&] { d.rename("/a", "/a/b/c"); }, DiskErrc::einval,
                    "EINVAL: invalid argument, rename '/a' -> '/a/b/c' (a directory cannot be moved into itself)");
  EXPECT_EQ(d.read_file("/f"), "abc");
  EXPECT_EQ(d.open_fds(), 1u);  // no failed open left a descriptor behind
}

// --- capacity ---------------------------------------------------------------------------------------------

TEST_F(DiskTest, CapacityExactlyFullPassesOneByteMoreIsEnospcAndChangesNothing) {
  Disk d(sim, "c1", 100);
  d.write_file("/f", std::string(100, 'a'));  // exactly at the limit
  EXPECT_EQ(d.used_bytes(), 100);
  const size_t records_before = disk_records().size();
  expect_disk_error([&] { d.append_file("/f", "b"); }, DiskErrc::enospc,
                    "ENOSPC: no space left on device, write '/f' (needs 1 more bytes; 0 of capacity_bytes 100 free "
                    "on the disk of c1)");
  expect_disk_error([&] { d.write_file("/f", std::string(101, 'c')); }, DiskErrc::enospc);
  expect_disk_error([&] { d.write_file("/g", "x"); }, DiskErrc::enospc);
  expect_disk_error([&] { d.truncate("/f", 101); }, DiskErrc::enospc);
  int fd = d.open("/f", OpenFlags{.write = true});
  d.seek(fd, 99);
  expect_disk_error([&] { d.write(fd, "zz"); }, DiskErrc::enospc);  // overwrites 1, extends by 1
  // Nothing changed: contents, size, used bytes, no new file, no write records.
  EXPECT_EQ(d.read_file("/f"), std::string(100, 'a'));
  EXPECT_EQ(d.used_bytes(), 100);
  EXPECT_FALSE(d.exists("/g"));
  EXPECT_EQ(disk_records().size(), records_before);
  // A write that does not grow the file still fits; so does replacing with the same size.
  EXPECT_EQ(d.write(fd, "z"), 1u);
  d.write_file("/f", std::string(100, 'd'));
  // Shrinking frees space for another file, again up to the exact limit.
  d.truncate("/f", 60);
  d.write_file("/g", std::string(40, 'g'));
  EXPECT_EQ(d.used_bytes(), 100);
  expect_disk_error([&] { d.write_file("/h", "1"); }, DiskErrc::enospc);
  d.close(fd);
}

TEST_F(DiskTest, CapacityCountsImageFilesAndHoles) {
  Disk d(sim, "c1", 10, {{"/app/bin", "12345"}});
  EXPECT_EQ(d.used_bytes(), 5);
  int fd = d.open("/app/data", OpenFlags{.write = true, .create = true});
  d.seek(fd, 4);
  EXPECT_EQ(d.write(fd, "x"), 1u);  // a 4-byte hole plus 1 byte: 5 bytes, exactly full
  EXPECT_EQ(d.used_bytes(), 10);
  EXPECT_EQ(d.read_file("/app/data"), std::string("\0\0\0\0x", 5));
  expect_disk_error([&] { d.write(fd, "y"); }, DiskErrc::enospc);
  d.close(fd);
}

TEST_F(DiskTest, ZeroCapacityDiskHoldsOnlyEmptyFiles) {
  Disk d(sim, "c1", 0);
  d.write_file("/empty", "");
  expect_disk_error([&] { d.write_file("/one", "1"); }, DiskErrc::enospc);
  EXPECT_EQ(d.list("/"), std::vector<std::string>{"empty"});
}

// --- directories ---------------------------------------------------------------------------------------

TEST_F(DiskTest, MkdirListRmdir) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/a/b/c", true);
  EXPECT_TRUE(d.stat("/a/b").is_dir);
  d.write_file("/a/b-x", "1");  // '-' sorts before '/': names must still come out sorted
  d.write_file("/a/a", "2");
  d.mkdir("/a/c");
  EXPECT_EQ(d.list("/a"), (std::vector<std::string>{"a", "b", "b-x", "c"}));
  EXPECT_EQ(d.list("/a/b"), std::vector<std::string>{"c"});
  EXPECT_EQ(d.list("/a/b/c"), std::vector<std::string>{});
  EXPECT_EQ(d.list("/"), std::vector<std::string>{"a"});
  d.rmdir("/a/b/c");
  EXPECT_FALSE(d.exists("/a/b/c"));
  EXPECT_TRUE(d.exists("/a/b"));
  EXPECT_EQ(d.used_bytes(), 2);  // directories cost nothing
}

TEST_F(DiskTest, ImageParentsExistImplicitly) {
  Disk d(sim, "c1", 1000, {{"/usr/share/app/config.json", "{}"}, {"/etc/hosts", "127.0.0.1 localhost"}});
  EXPECT_EQ(d.list("/"), (std::vector<std::string>{"etc", "usr"}));
  EXPECT_EQ(d.list("/usr/share"), std::vector<std::string>{"app"});
  EXPECT_TRUE(d.stat("/usr/share/app").is_dir);
  EXPECT_EQ(d.read_file("/usr/share/app/config.json"), "{}");
  EXPECT_EQ(d.stat("/etc/hosts").mtime, Time{});  // image files date from the world's start
}

// --- unlink, rename, truncate ------------------------------------------------------------------------

TEST_F(DiskTest, UnlinkFreesSpace) {
  Disk d(sim, "c1", 1000);
  d.write_file("/f", "abc");
  d.unlink("/f");
  EXPECT_FALSE(d.exists("/f"));
  EXPECT_EQ(d.used_bytes(), 0);
  EXPECT_EQ(d.list("/"), std::vector<std::string>{});
}

TEST_F(DiskTest, RenameFileMovesAndReplaces) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/tmp");
  d.mkdir("/data");
  d.write_file("/tmp/db.new", "new contents");
  d.write_file("/data/db", "old");
  d.rename("/tmp/db.new", "/data/db");  // the atomic-replace idiom
  EXPECT_EQ(d.read_file("/data/db"), "new contents");
  EXPECT_FALSE(d.exists("/tmp/db.new"));
  EXPECT_EQ(d.used_bytes(), 12);  // the replaced file's 3 bytes are freed
  d.rename("/data/db", "/data//db/");  // onto itself: nothing happens
  EXPECT_EQ(d.read_file("/data/db"), "new contents");
}

TEST_F(DiskTest, RenameDirectoryMovesItsSubtree) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/a/sub", true);
  d.write_file("/a/f", "1");
  d.write_file("/a/sub/g", "22");
  d.write_file("/a-sibling", "3");  // shares a prefix, must not move
  d.mkdir("/empty");
  d.rename("/a", "/empty");  // an empty directory is replaced
  EXPECT_FALSE(d.exists("/a"));
  EXPECT_EQ(d.read_file("/empty/f"), "1");
  EXPECT_EQ(d.read_file("/empty/sub/g"), "22");
  EXPECT_EQ(d.read_file("/a-sibling"), "3");
  EXPECT_EQ(d.list("/"), (std::vector<std::string>{"a-sibling", "empty"}));
  d.rename("/empty", "/z/../b");
  EXPECT_EQ(d.list("/b"), (std::vector<std::string>{"f", "sub"}));
  EXPECT_EQ(d.used_bytes(), 4);
}

TEST_F(DiskTest, TruncateShrinksAndZeroExtends) {
  Disk d(sim, "c1", 1000);
  d.write_file("/f", "abcdef");
  d.truncate("/f", 2);
  EXPECT_EQ(d.read_file("/f"), "ab");
  d.truncate("/f", 5);
  EXPECT_EQ(d.read_file("/f"), std::string("ab\0\0\0", 5));
  EXPECT_EQ(d.used_bytes(), 5);
  d.truncate("/f", 0);
  EXPECT_EQ(d.stat("/f").size, 0);
  EXPECT_EQ(d.used_bytes(), 0);
}

// --- descriptors -------------------------------------------------------------------------------------------

TEST_F(DiskTest, DescriptorReadWriteSeekAppend) {
  Disk d(sim, "c1", 1000);
  int fd = d.open("/f", OpenFlags{.read = true, .write = true, .create = true});
  EXPECT_EQ(fd, 3);  // 0-2 are stdio
  EXPECT_EQ(d.write(fd, "hello"), 5u);
  EXPECT_EQ(d.read(fd, 10), "");  // at the end
  d.seek(fd, 1);
  EXPECT_EQ(d.read(fd, 3), "ell");
  EXPECT_EQ(d.read(fd, 10), "o");
  d.seek(fd, 0);
  EXPECT_EQ(d.write(fd, "J"), 1u);  // overwrite in place
  EXPECT_EQ(d.write(fd, ""), 0u);
  d.fsync(fd);
  EXPECT_EQ(d.read_file("/f"), "Jello");
  int ap = d.open("/f", OpenFlags{.read = false, .write = true, .append = true});
  EXPECT_EQ(ap, 4);
  d.seek(ap, 0);  // append ignores the position
  d.write(ap, "!");
  EXPECT_EQ(d.read_file("/f"), "Jello!");
  d.close(fd);
  EXPECT_EQ(d.open("/f", OpenFlags{}), 3);  // lowest free descriptor again
  int tr = d.open("/f", OpenFlags{.write = true, .truncate = true});
  EXPECT_EQ(tr, 5);
  EXPECT_EQ(d.read_file("/f"), "");
  EXPECT_EQ(d.used_bytes(), 0);
  EXPECT_EQ(d.open_fds(), 3u);
}

TEST_F(DiskTest, UnlinkedOpenFileKeepsItsBytesUntilClosed) {
  Disk d(sim, "c1", 10);
  d.write_file("/f", "abcdefgh");
  int fd = d.open("/f", OpenFlags{.read = true, .write = true});
  d.unlink("/f");
  EXPECT_FALSE(d.exists("/f"));
  EXPECT_EQ(d.used_bytes(), 8);  // POSIX: the inode lives while a descriptor holds it
  EXPECT_EQ(d.read(fd, 3), "abc");
  expect_disk_error([&] { d.write_file("/g", "xyz"); }, DiskErrc::enospc);
  d.close(fd);
  EXPECT_EQ(d.used_bytes(), 0);
  d.write_file("/g", "xyz");
  // The same holds for a file replaced by rename.
  d.write_file("/h", "1234");
  int held = d.open("/g", OpenFlags{});
  d.rename("/h", "/g");
  EXPECT_EQ(d.used_bytes(), 7);
  EXPECT_EQ(d.read(held, 10), "xyz");
  d.close(held);
  EXPECT_EQ(d.used_bytes(), 4);
}

// --- time --------------------------------------------------------------------------------------------------

TEST_F(DiskTest, MtimeFollowsVirtualTime) {
  Disk d(sim, "c1", 1000);
  d.mkdir("/data");
  advance_to(Time{} + 5s);
  d.write_file("/data/f", "x");
  EXPECT_EQ(d.stat("/data/f").mtime, Time{} + 5s);
  EXPECT_EQ(d.stat("/data").mtime, Time{} + 5s);  // a new entry changes the directory
  advance_to(Time{} + 7s);
  d.append_file("/data/f", "y");
  EXPECT_EQ(d.stat("/data/f").mtime, Time{} + 7s);
  EXPECT_EQ(d.stat("/data").mtime, Time{} + 5s);  // changing contents does not
  advance_to(Time{} + 9s);
  int fd = d.open("/data/f", OpenFlags{.write = true});
  d.write(fd, "z");
  EXPECT_EQ(d.stat("/data/f").mtime, Time{} + 9s);
  d.close(fd);
}

// --- wipe (platform-facts §1.8, §8 item 11) -----------------------------------------------------------------

TEST_F(DiskTest, WipeRestoresTheImageExactlyAndReportsLossesPlatformFacts1_8And8Item11) {
  const std::map<std::string, std::string> image = {{"/app/config", "v1"}, {"/app/static/index.html", "<html>"}};
  Disk d(sim, "sessions/main", 1000, image);
  d.write_file("/app/config", "v2");                // modified image file: lost
  d.unlink("/app/static/index.html");                // deleted image file: comes back, not a loss
  d.mkdir("/data");
  d.write_file("/data/db.sqlite", "0123456789");     // new file: lost
  d.write_file("/app/static/extra.css", "abc");      // new file in an image directory: lost
  d.write_file("/app/config", "v2");
  int fd = d.open("/data/db.sqlite", OpenFlags{});
  advance_to(Time{} + 1min);

  WipeReport rep = d.wipe("sleepAfter expired");
  EXPECT_EQ(rep.files_lost, 3);
  EXPECT_EQ(rep.bytes_lost, 2 + 10 + 3);
  EXPECT_EQ(rep.paths_lost, (std::vector<std::string>{"/app/config", "/app/static/extra.css", "/data/db.sqlite"}));

  // Back to exactly the image: same files, same contents, same directories, same mtimes.
  EXPECT_EQ(d.list("/"), std::vector<std::string>{"app"});
  EXPECT_EQ(d.list("/app"), (std::vector<std::string>{"config", "static"}));
  EXPECT_EQ(d.list("/app/static"), std::vector<std::string>{"index.html"});
  for (const auto& [path, data] : image) {
    EXPECT_EQ(d.read_file(path), data);
    EXPECT_EQ(d.stat(path).mtime, Time{});
  }
  EXPECT_FALSE(d.exists("/data"));
  EXPECT_EQ(d.used_bytes(), 2 + 6);
  // Descriptors do not survive a stop.
  EXPECT_EQ(d.open_fds(), 0u);
  expect_disk_error([&] { d.read(fd, 1); }, DiskErrc::ebadf);

  // The trace says what was lost, when and why (for `cfsim explain`).
  std::vector<Record> recs = disk_records();
  size_t w = 0;
  while (w < recs.size() && recs[w].name != "wipe") ++w;
  ASSERT_LT(w, recs.size());
  EXPECT_EQ(recs[w].time, Time{} + 1min);
  EXPECT_EQ(recs[w].field_text("container"), "sessions/main");
  EXPECT_EQ(recs[w].field_text("reason"), "sleepAfter expired");
  EXPECT_EQ(int_field(recs[w], "files_lost"), 3);
  EXPECT_EQ(int_field(recs[w], "bytes_lost"), 15);
  ASSERT_EQ(recs.size(), w + 4);
  const char* lost_paths[] = {"/app/config", "/app/static/extra.css", "/data/db.sqlite"};
  const int64_t lost_bytes[] = {2, 3, 10};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(recs[w + 1 + i].name, "lost");
    EXPECT_EQ(recs[w + 1 + i].field_text("path"), lost_paths[i]);
    EXPECT_EQ(int_field(recs[w + 1 + i], "bytes"), lost_bytes[i]);
    EXPECT_EQ(recs[w + 1 + i].field_text("container"), "sessions/main");
  }

  // A second wipe loses nothing when the only write put an image file's own contents back.
  d.write_file("/app/config", "v1");
  WipeReport again = d.wipe("host restart");
  EXPECT_EQ(again.files_lost, 0);
  EXPECT_EQ(again.bytes_lost, 0);
  EXPECT_TRUE(again.paths_lost.empty());
}

// --- trace ---------------------------------------------------------------------------------------------------

TEST_F(DiskTest, TraceRecordsWritesUnlinksRenamesButNotReads) {
  Disk d(sim, "c1", 1000);
  d.write_file("/f", "abc");
  d.append_file("/f", "de");
  d.truncate("/f", 1);
  int fd = d.open("/g", OpenFlags{.read = true, .write = true, .create = true});
  d.write(fd, "xy");
  d.rename("/g", "/h");
  d.write(fd, "z");  // through the descriptor, under the file's new name
  d.read_file("/f");
  d.read(fd, 1);
  d.stat("/f");
  d.list("/");
  d.exists("/f");
  d.unlink("/h");
  d.write(fd, "w");  // an unlinked but open file
  d.close(fd);

  std::vector<Record> recs = disk_records();
  std::vector<std::string> summary;
  for (const Record& r : recs) {
    EXPECT_EQ(r.field_text("container"), "c1");
    if (r.name == "write")
      summary.push_back("write " + r.field_text("path") + " " + r.field_text("op") + " " + r.field_text("bytes") + " " +
                        r.field_text("size"));
    else if (r.name == "rename")
      summary.push_back("rename " + r.field_text("from") + " " + r.field_text("to"));
    else
      summary.push_back(r.name + " " + r.field_text("path"));
  }
  EXPECT_EQ(summary, (std::vector<std::string>{
                         "write /f write_file 3 3",
                         "write /f append_file 2 5",
                         "write /f truncate 0 1",
                         "write /g create 0 0",
                         "write /g write 2 2",
                         "rename /g /h",
                         "write /h write 1 3",
                         "unlink /h",
                         "write /h (deleted) write 1 4",
                     }));
}

// --- bad construction ------------------------------------------------------------------------------------

TEST_F(DiskTest, BadConstructionIsAClearError) {
  auto expect_invalid = [](auto&& fn, const std::string& part) {
    try {
      fn();
      ADD_FAILURE() << "expected std::invalid_argument containing " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_invalid([&] { Disk(sim, "c1", -1); }, "capacity_bytes -1 must not be negative");
  expect_invalid([&] { Disk(sim, "c1", 100, {{"etc/hosts", "x"}}); }, "image file path 'etc/hosts'");
  expect_invalid([&] { Disk(sim, "c1", 100, {{"/", "x"}}); }, "names the root directory");
  expect_invalid([&] { Disk(sim, "c1", 100, {{"/a", "x"}, {"/a/b", "y"}}); },
                 "image file '/a' is also the parent directory of image file '/a/b'");
  expect_invalid([&] { Disk(sim, "c1", 100, {{"/a", "x"}, {"//a", "y"}}); }, "names the same file");
  expect_invalid([&] { Disk(sim, "c1", 3, {{"/a", "xy"}, {"/b", "zw"}}); },
                 "the image files take 4 bytes, more than capacity_bytes 3");
  Disk exact(sim, "c1", 4, {{"/a", "xy"}, {"/b", "zw"}});  // an image exactly the capacity fits
  EXPECT_EQ(exact.used_bytes(), 4);
}

// --- property: Disk against a std::map model ---------------------------------------------------------

enum class OpKind { write, append, unlink, rename, truncate, wipe };

struct Op {
  OpKind kind;
  int path = 0, path2 = 0;
  std::string data;
  int64_t size = 0;
};

const std::vector<std::string> kPaths = {"/a/x", "/a/y", "/b/x", "/b/z"};

// How RapidCheck prints an operation in a counterexample.
void showValue(const Op& op, std::ostream& os) {
  static const char* names[] = {"write", "append", "unlink", "rename", "truncate", "wipe"};
  const std::string& p = kPaths[static_cast<size_t>(op.path)];
  os << names[static_cast<int>(op.kind)];
  switch (op.kind) {
    case OpKind::write: case OpKind::append: os << " " << p << " \"" << op.data << "\""; break;
    case OpKind::unlink: os << " " << p; break;
    case OpKind::rename: os << " " << p << " -> " << kPaths[static_cast<size_t>(op.path2)]; break;
    case OpKind::truncate: os << " " << p << " " << op.size; break;
    case OpKind::wipe: break;
  }
}
const std::map<std::string, std::string> kImage = {{"/a/x", "image"}, {"/b/keep", ""}};
constexpr int64_t kCapacity = 24;

rc::Gen<Op> gen_op() {
  return rc::gen::exec([] {
    Op op;
    int w = *rc::gen::inRange(0, 100);
    op.kind = w < 30 ? OpKind::write : w < 50 ? OpKind::append : w < 65 ? OpKind::unlink : w < 80 ? OpKind::rename
            : w < 94 ? OpKind::truncate : OpKind::wipe;
    op.path = *rc::gen::inRange(0, static_cast<int>(kPaths.size()));
    op.path2 = *rc::gen::inRange(0, static_cast<int>(kPaths.size()));
    op.data = std::string(static_cast<size_t>(*rc::gen::inRange(0, 12)), static_cast<char>('a' + *rc::gen::inRange(0, 3)));
    op.size = *rc::gen::inRange<int64_t>(0, 16);
    return op;
  });
}

int64_t model_used(const std::map<std::string, std::string>& m) {
  int64_t n = 0;
  for (const auto& [p, data] : m) n += static_cast<int64_t>(data.size());
  return n;
}

// Runs fn; returns the name of the errno it failed with, or "ok" (text, so that a counterexample
// prints readably).
template <class F>
std::string outcome(F&& fn) {
  try {
    fn();
  } catch (const DiskError& e) {
    return e.errno_name();
  }
  return "ok";
}
std::string text(std::optional<DiskErrc> e) { return e ? errno_name(*e) : "ok"; }

RC_GTEST_PROP(DiskProps, MatchesAMapModelOverRandomFileOperations, ()) {
  // Up to 60 operations; each operation is drawn at full size (inRange narrows with the size, and
  // a small size would leave only the first kinds).
  const auto ops = *rc::gen::resize(60, rc::gen::container<std::vector<Op>>(rc::gen::resize(100, gen_op())));
  RC_CLASSIFY(std::any_of(ops.begin(), ops.end(), [](const Op& o) { return o.kind == OpKind::rename; }), "has rename");
  RC_CLASSIFY(std::any_of(ops.begin(), ops.end(), [](const Op& o) { return o.kind == OpKind::wipe; }), "has wipe");
  Simulator sim;
  Disk disk(sim, "prop", kCapacity, kImage);
  std::map<std::string, std::string> model = kImage;

  for (const Op& op : ops) {
    const std::string& p = kPaths[static_cast<size_t>(op.path)];
    const std::string& q = kPaths[static_cast<size_t>(op.path2)];
    const bool present = model.count(p) > 0;
    const int64_t old_size = present ? static_cast<int64_t>(model[p].size()) : 0;
    if (!present) model.erase(p);  // operator[] above must not create it
    const int64_t free_bytes = kCapacity - model_used(model);
    std::optional<DiskErrc> expected;
    switch (op.kind) {
      case OpKind::write:
        if (static_cast<int64_t>(op.data.size()) - old_size > free_bytes) expected = DiskErrc::enospc;
        else model[p] = op.data;
        RC_ASSERT(outcome([&] { disk.write_file(p, op.data); }) == text(expected));
        break;
      case OpKind::append:
        if (static_cast<int64_t>(op.data.size()) > free_bytes) expected = DiskErrc::enospc;
        else model[p] += op.data;
        RC_ASSERT(outcome([&] { disk.append_file(p, op.data); }) == text(expected));
        break;
      case OpKind::unlink:
        if (!present) expected = DiskErrc::enoent;
        else model.erase(p);
        RC_ASSERT(outcome([&] { disk.unlink(p); }) == text(expected));
        break;
      case OpKind::rename:
        if (!present) {
          expected = DiskErrc::enoent;
        } else if (p != q) {
          model[q] = model[p];
          model.erase(p);
        }
        RC_ASSERT(outcome([&] { disk.rename(p, q); }) == text(expected));
        break;
      case OpKind::truncate:
        if (!present) expected = DiskErrc::enoent;
        else if (op.size - old_size > free_bytes) expected = DiskErrc::enospc;
        else model[p].resize(static_cast<size_t>(op.size), '\0');
        RC_ASSERT(outcome([&] { disk.truncate(p, op.size); }) == text(expected));
        break;
      case OpKind::wipe: {
        std::vector<std::string> lost;
        int64_t lost_bytes = 0;
        for (const auto& [path, data] : model) {
          auto img = kImage.find(path);
          if (img == kImage.end() || img->second != data) {
            lost.push_back(path);
            lost_bytes += static_cast<int64_t>(data.size());
          }
        }
        WipeReport rep = disk.wipe("property");
        RC_ASSERT(rep.paths_lost == lost);
        RC_ASSERT(rep.files_lost == static_cast<int64_t>(lost.size()));
        RC_ASSERT(rep.bytes_lost == lost_bytes);
        model = kImage;
        break;
      }
    }
    // The whole visible state matches the model after every step.
    RC_ASSERT(disk.used_bytes() == model_used(model));
    RC_ASSERT(disk.used_bytes() <= kCapacity);
    for (const char* dir : {"/a", "/b"}) {
      std::vector<std::string> names;
      const std::string prefix = std::string(dir) + "/";
      for (const auto& [path, data] : model)
        if (path.compare(0, prefix.size(), prefix) == 0) names.push_back(path.substr(prefix.size()));
      RC_ASSERT(disk.list(dir) == names);
    }
    for (const auto& [path, data] : model) RC_ASSERT(disk.read_file(path) == data);
  }
}

}  // namespace

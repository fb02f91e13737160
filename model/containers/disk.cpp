#include "model/containers/disk.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "sim/scheduler.h"

namespace cfsim {

const char* errno_name(DiskErrc c) {
  switch (c) {
    case DiskErrc::enoent: return "ENOENT";
    case DiskErrc::eexist: return "EEXIST";
    case DiskErrc::enotdir: return "ENOTDIR";
    case DiskErrc::eisdir: return "EISDIR";
    case DiskErrc::enotempty: return "ENOTEMPTY";
    case DiskErrc::enospc: return "ENOSPC";
    case DiskErrc::ebadf: return "EBADF";
    case DiskErrc::einval: return "EINVAL";
  }
  return "E?";
}

const char* description(DiskErrc c) {
  switch (c) {
    case DiskErrc::enoent: return "no such file or directory";
    case DiskErrc::eexist: return "file already exists";
    case DiskErrc::enotdir: return "not a directory";
    case DiskErrc::eisdir: return "illegal operation on a directory";
    case DiskErrc::enotempty: return "directory not empty";
    case DiskErrc::enospc: return "no space left on device";
    case DiskErrc::ebadf: return "bad file descriptor";
    case DiskErrc::einval: return "invalid argument";
  }
  return "?";
}

namespace {

// A path as shown in a message: NUL bytes spelled out so the message is not cut short.
std::string shown_path(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == '\0') out += "\\0";
    else out += c;
  }
  return out;
}

std::string error_text(DiskErrc code, std::string_view syscall, std::string_view path, std::string_view dest,
                       std::string_view detail) {
  std::string s = fmt::format("{}: {}, {}", errno_name(code), description(code), syscall);
  if (!path.empty()) s += fmt::format(" '{}'", shown_path(path));
  if (!dest.empty()) s += fmt::format(" -> '{}'", shown_path(dest));
  if (!detail.empty()) s += fmt::format(" ({})", detail);
  return s;
}

// Keys of the entries strictly below directory `norm` form the range (lo, hi): lo itself is a key
// only for the root ("/"), which is not below itself, so iterate from upper_bound(lo).
std::string subtree_lo(const std::string& norm) { return norm == "/" ? "/" : norm + "/"; }
std::string subtree_hi(const std::string& norm) { return norm == "/" ? "0" : norm + "0"; }  // '0' == '/' + 1

bool is_below(const std::string& path, const std::string& dir) {
  std::string lo = subtree_lo(dir);
  return path.size() > lo.size() && path.compare(0, lo.size(), lo) == 0;
}

}  // namespace

DiskError::DiskError(DiskErrc code, std::string_view syscall, std::string_view path, std::string_view dest,
                     std::string_view detail)
    : std::runtime_error(error_text(code, syscall, path, dest, detail)),
      code_(code),
      syscall_(syscall),
      path_(path) {}

// --- construction and paths -------------------------------------------------------------------------

Disk::Disk(Simulator& sim, std::string owner_label, int64_t capacity_bytes, std::map<std::string, std::string> image_files)
    : sim_(sim), owner_(std::move(owner_label)), capacity_bytes_(capacity_bytes) {
  if (capacity_bytes < 0)
    throw std::invalid_argument(fmt::format("disk of {}: capacity_bytes {} must not be negative", owner_, capacity_bytes));
  int64_t total = 0;
  for (auto& [path, data] : image_files) {
    std::string norm;
    try {
      norm = normalise(path, "image");
    } catch (const DiskError& e) {
      throw std::invalid_argument(fmt::format("disk of {}: image file path '{}' is not a valid absolute path: {}", owner_,
                                              shown_path(path), e.what()));
    }
    if (norm == "/")
      throw std::invalid_argument(fmt::format("disk of {}: image file path '{}' names the root directory", owner_, path));
    if (!image_.emplace(norm, std::move(data)).second)
      throw std::invalid_argument(
          fmt::format("disk of {}: image file path '{}' names the same file as another image path ({})", owner_, path, norm));
  }
  for (const auto& [norm, data] : image_) {
    auto below = image_.upper_bound(subtree_lo(norm));
    if (below != image_.end() && is_below(below->first, norm))
      throw std::invalid_argument(fmt::format("disk of {}: image file '{}' is also the parent directory of image file '{}'",
                                              owner_, norm, below->first));
    total += static_cast<int64_t>(data.size());
  }
  if (total > capacity_bytes_)
    throw std::invalid_argument(fmt::format("disk of {}: the image files take {} bytes, more than capacity_bytes {}",
                                            owner_, total, capacity_bytes_));
  load_image();
}

Disk::~Disk() = default;

std::string Disk::normalise(std::string_view path, std::string_view syscall) {
  if (path.empty() || path.front() != '/')
    throw DiskError(DiskErrc::einval, syscall, path, {}, "paths must be absolute");
  if (path.find('\0') != std::string_view::npos)
    throw DiskError(DiskErrc::einval, syscall, path, {}, "paths must not contain a NUL byte");
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  if (parts.empty()) return "/";
  std::string out;
  for (std::string_view p : parts) {
    out += '/';
    out += p;
  }
  return out;
}

std::string Disk::parent_of(const std::string& norm) {
  size_t slash = norm.rfind('/');
  return slash == 0 ? "/" : norm.substr(0, slash);
}

const Disk::Node* Disk::find(const std::string& norm) const {
  auto it = nodes_.find(norm);
  return it == nodes_.end() ? nullptr : &it->second;
}

void Disk::check_ancestors(const std::string& norm, std::string_view syscall, std::string_view shown) const {
  // Walk "/a", "/a/b", ... (every proper ancestor but the root) as path resolution does.
  for (size_t slash = norm.find('/', 1); slash != std::string::npos; slash = norm.find('/', slash + 1)) {
    const Node* n = find(norm.substr(0, slash));
    if (!n) throw DiskError(DiskErrc::enoent, syscall, shown);
    if (!n->is_dir) throw DiskError(DiskErrc::enotdir, syscall, shown);
  }
}

Disk::Node& Disk::parent_dir(const std::string& norm, std::string_view syscall, std::string_view shown) {
  check_ancestors(norm, syscall, shown);
  return nodes_.at(parent_of(norm));  // check_ancestors proved it exists and is a directory
}

Disk::Inode& Disk::existing_file(const std::string& norm, std::string_view syscall, std::string_view shown) const {
  check_ancestors(norm, syscall, shown);
  auto it = nodes_.find(norm);
  if (it == nodes_.end()) throw DiskError(DiskErrc::enoent, syscall, shown);
  if (it->second.is_dir) throw DiskError(DiskErrc::eisdir, syscall, shown);
  return *it->second.file;
}

bool Disk::has_children(const std::string& norm) const {
  auto it = nodes_.upper_bound(subtree_lo(norm));
  return it != nodes_.end() && is_below(it->first, norm);
}

void Disk::touch_parent(const std::string& norm) { nodes_.at(parent_of(norm)).mtime = sim_.now(); }

void Disk::release_if_orphan(const Inode& inode) {
  if (!inode.linked && inode.open_count == 0) used_bytes_ -= static_cast<int64_t>(inode.data.size());
}

void Disk::drop_file(std::map<std::string, Node>::iterator it) {
  std::shared_ptr<Inode> f = std::move(it->second.file);
  nodes_.erase(it);
  f->linked = false;
  release_if_orphan(*f);
}

std::shared_ptr<Disk::Inode> Disk::new_file(const std::string& norm) {
  auto f = std::make_shared<Inode>();
  f->path = norm;
  f->mtime = sim_.now();
  return f;
}

void Disk::require_space(int64_t growth, std::string_view syscall, std::string_view shown) const {
  if (growth <= 0 || growth <= capacity_bytes_ - used_bytes_) return;
  throw DiskError(DiskErrc::enospc, syscall, shown, {},
                  fmt::format("needs {} more bytes; {} of capacity_bytes {} free on the disk of {}", growth,
                              capacity_bytes_ - used_bytes_, capacity_bytes_, owner_));
}

void Disk::record_write(const Inode& inode, std::string_view op, int64_t bytes) {
  std::string path = inode.linked ? inode.path : inode.path + " (deleted)";
  sim_.record("disk", "write",
              {{"container", owner_}, {"path", path}, {"op", op}, {"bytes", bytes},
               {"size", static_cast<int64_t>(inode.data.size())}});
}

void Disk::load_image() {
  nodes_.clear();
  fds_.clear();
  used_bytes_ = 0;
  nodes_["/"] = Node{true, Time{}, nullptr};
  for (const auto& [norm, data] : image_) {
    for (size_t slash = norm.find('/', 1); slash != std::string::npos; slash = norm.find('/', slash + 1))
      nodes_.try_emplace(norm.substr(0, slash), Node{true, Time{}, nullptr});
    auto inode = std::make_shared<Inode>();
    inode->data = data;
    inode->path = norm;
    nodes_[norm] = Node{false, Time{}, std::move(inode)};
    used_bytes_ += static_cast<int64_t>(data.size());
  }
}

// --- path API -------------------------------------------------------------------------------------------

void Disk::write_file(std::string_view path, std::string_view data) {
  std::string norm = normalise(path, "open");
  check_ancestors(norm, "open", path);
  auto it = nodes_.find(norm);
  if (it != nodes_.end() && it->second.is_dir) throw DiskError(DiskErrc::eisdir, "open", path);
  int64_t old_size = it == nodes_.end() ? 0 : static_cast<int64_t>(it->second.file->data.size());
  require_space(static_cast<int64_t>(data.size()) - old_size, "write", path);
  if (it == nodes_.end()) {
    it = nodes_.emplace(norm, Node{false, sim_.now(), new_file(norm)}).first;
    touch_parent(norm);
  }
  Inode& f = *it->second.file;
  f.data.assign(data);
  f.mtime = sim_.now();
  used_bytes_ += static_cast<int64_t>(data.size()) - old_size;
  record_write(f, "write_file", static_cast<int64_t>(data.size()));
}

void Disk::append_file(std::string_view path, std::string_view data) {
  std::string norm = normalise(path, "open");
  check_ancestors(norm, "open", path);
  auto it = nodes_.find(norm);
  if (it != nodes_.end() && it->second.is_dir) throw DiskError(DiskErrc::eisdir, "open", path);
  require_space(static_cast<int64_t>(data.size()), "write", path);
  if (it == nodes_.end()) {
    it = nodes_.emplace(norm, Node{false, sim_.now(), new_file(norm)}).first;
    touch_parent(norm);
  }
  Inode& f = *it->second.file;
  f.data.append(data);
  f.mtime = sim_.now();
  used_bytes_ += static_cast<int64_t>(data.size());
  record_write(f, "append_file", static_cast<int64_t>(data.size()));
}

std::string Disk::read_file(std::string_view path) const {
  return existing_file(normalise(path, "open"), "open", path).data;
}

bool Disk::exists(std::string_view path) const {
  std::string norm = normalise(path, "stat");
  for (size_t slash = norm.find('/', 1); slash != std::string::npos; slash = norm.find('/', slash + 1)) {
    const Node* n = find(norm.substr(0, slash));
    if (!n || !n->is_dir) return false;
  }
  return find(norm) != nullptr;
}

FileStat Disk::stat(std::string_view path) const {
  std::string norm = normalise(path, "stat");
  check_ancestors(norm, "stat", path);
  const Node* n = find(norm);
  if (!n) throw DiskError(DiskErrc::enoent, "stat", path);
  if (n->is_dir) return FileStat{0, true, n->mtime};
  return FileStat{static_cast<int64_t>(n->file->data.size()), false, n->file->mtime};
}

std::vector<std::string> Disk::list(std::string_view dir) const {
  std::string norm = normalise(dir, "scandir");
  check_ancestors(norm, "scandir", dir);
  const Node* n = find(norm);
  if (!n) throw DiskError(DiskErrc::enoent, "scandir", dir);
  if (!n->is_dir) throw DiskError(DiskErrc::enotdir, "scandir", dir);
  // Direct children are the keys in the subtree with no further '/'; in key order they come out
  // sorted by name, since every key shares the same prefix.
  std::vector<std::string> names;
  const std::string lo = subtree_lo(norm), hi = subtree_hi(norm);
  for (auto it = nodes_.upper_bound(lo); it != nodes_.end() && it->first < hi; ++it)
    if (it->first.find('/', lo.size()) == std::string::npos) names.push_back(it->first.substr(lo.size()));
  return names;
}

void Disk::mkdir(std::string_view path, bool parents) {
  std::string norm = normalise(path, "mkdir");
  if (const Node* n = find(norm)) {
    if (parents && n->is_dir) return;
    throw DiskError(DiskErrc::eexist, "mkdir", path);
  }
  if (!parents) {
    parent_dir(norm, "mkdir", path);
  } else {
    // Create every missing ancestor; a file in the way is ENOTDIR.
    for (size_t slash = norm.find('/', 1); slash != std::string::npos; slash = norm.find('/', slash + 1)) {
      std::string anc = norm.substr(0, slash);
      const Node* n = find(anc);
      if (n && !n->is_dir) throw DiskError(DiskErrc::enotdir, "mkdir", path);
      if (!n) {
        nodes_.emplace(anc, Node{true, sim_.now(), nullptr});
        touch_parent(anc);
      }
    }
  }
  nodes_.emplace(norm, Node{true, sim_.now(), nullptr});
  touch_parent(norm);
}

void Disk::rmdir(std::string_view path) {
  std::string norm = normalise(path, "rmdir");
  if (norm == "/") throw DiskError(DiskErrc::einval, "rmdir", path, {}, "the root directory cannot be removed");
  check_ancestors(norm, "rmdir", path);
  auto it = nodes_.find(norm);
  if (it == nodes_.end()) throw DiskError(DiskErrc::enoent, "rmdir", path);
  if (!it->second.is_dir) throw DiskError(DiskErrc::enotdir, "rmdir", path);
  if (has_children(norm)) throw DiskError(DiskErrc::enotempty, "rmdir", path);
  nodes_.erase(it);
  touch_parent(norm);
}

void Disk::unlink(std::string_view path) {
  std::string norm = normalise(path, "unlink");
  if (norm == "/") throw DiskError(DiskErrc::eisdir, "unlink", path);
  existing_file(norm, "unlink", path);  // ENOENT / ENOTDIR / EISDIR
  drop_file(nodes_.find(norm));
  touch_parent(norm);
  sim_.record("disk", "unlink", {{"container", owner_}, {"path", norm}});
}

void Disk::rename(std::string_view from, std::string_view to) {
  const std::string f = normalise(from, "rename"), t = normalise(to, "rename");
  auto err = [&](DiskErrc c, std::string_view detail = {}) { return DiskError(c, "rename", from, to, detail); };
  if (f == "/") throw err(DiskErrc::einval, "the root directory cannot be renamed");
  try {
    check_ancestors(f, "rename", from);
  } catch (const DiskError& e) {
    throw err(e.code());
  }
  auto src = nodes_.find(f);
  if (src == nodes_.end()) throw err(DiskErrc::enoent);
  const bool src_dir = src->second.is_dir;
  if (f == t) return;  // POSIX: renaming a path onto itself succeeds and does nothing
  if (src_dir && is_below(t, f)) throw err(DiskErrc::einval, "a directory cannot be moved into itself");
  try {
    check_ancestors(t, "rename", to);
  } catch (const DiskError& e) {
    throw err(e.code());
  }
  auto dst = nodes_.find(t);
  if (dst != nodes_.end()) {
    const bool dst_dir = dst->second.is_dir;
    if (!src_dir && dst_dir) throw err(DiskErrc::eisdir);
    if (src_dir && !dst_dir) throw err(DiskErrc::enotdir);
    if (dst_dir && has_children(t)) throw err(DiskErrc::enotempty);
    if (dst_dir) nodes_.erase(dst);
    else drop_file(dst);
  }
  // Move the entry and, for a directory, everything below it (re-keyed under the new name). The
  // destination's subtree is empty, and it is not inside the source, so no key collides.
  std::vector<std::pair<std::string, Node>> moved;
  moved.emplace_back(t, std::move(src->second));
  nodes_.erase(src);
  if (src_dir) {
    auto lo = nodes_.upper_bound(subtree_lo(f)), hi = nodes_.lower_bound(subtree_hi(f));
    for (auto it = lo; it != hi; ++it) moved.emplace_back(t + it->first.substr(f.size()), std::move(it->second));
    nodes_.erase(lo, hi);
  }
  for (auto& [key, node] : moved) {
    if (node.file) node.file->path = key;
    nodes_.emplace(key, std::move(node));
  }
  touch_parent(f);
  touch_parent(t);
  sim_.record("disk", "rename", {{"container", owner_}, {"from", f}, {"to", t}});
}

void Disk::truncate(std::string_view path, int64_t size) {
  std::string norm = normalise(path, "truncate");
  if (size < 0) throw DiskError(DiskErrc::einval, "truncate", path, {}, fmt::format("size {} is negative", size));
  Inode& f = existing_file(norm, "truncate", path);
  int64_t growth = size - static_cast<int64_t>(f.data.size());
  require_space(growth, "truncate", path);
  f.data.resize(static_cast<size_t>(size), '\0');
  f.mtime = sim_.now();
  used_bytes_ += growth;
  record_write(f, "truncate", 0);
}

// --- descriptor API --------------------------------------------------------------------------------------

int Disk::open(std::string_view path, OpenFlags flags) {
  std::string norm = normalise(path, "open");
  if (!flags.read && !flags.write)
    throw DiskError(DiskErrc::einval, "open", path, {}, "open needs read or write access");
  if ((flags.truncate || flags.append) && !flags.write)
    throw DiskError(DiskErrc::einval, "open", path, {}, "truncate and append need write access");
  if (flags.exclusive && !flags.create)
    throw DiskError(DiskErrc::einval, "open", path, {}, "exclusive needs create");
  check_ancestors(norm, "open", path);
  auto it = nodes_.find(norm);
  std::shared_ptr<Inode> f;
  if (it != nodes_.end()) {
    if (it->second.is_dir) throw DiskError(DiskErrc::eisdir, "open", path);
    if (flags.create && flags.exclusive) throw DiskError(DiskErrc::eexist, "open", path);
    f = it->second.file;
    if (flags.truncate) {
      used_bytes_ -= static_cast<int64_t>(f->data.size());
      f->data.clear();
      f->mtime = sim_.now();
      record_write(*f, "truncate", 0);
    }
  } else {
    if (!flags.create) throw DiskError(DiskErrc::enoent, "open", path);
    f = new_file(norm);
    nodes_.emplace(norm, Node{false, sim_.now(), f});
    touch_parent(norm);
    record_write(*f, "create", 0);
  }
  int fd = 3;
  for (const auto& [used, entry] : fds_) {
    if (used != fd) break;
    ++fd;
  }
  ++f->open_count;
  fds_.emplace(fd, OpenFile{std::move(f), 0, flags.read, flags.write, flags.append});
  return fd;
}

Disk::OpenFile& Disk::fd_entry(int fd, std::string_view syscall) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) throw DiskError(DiskErrc::ebadf, syscall, {}, {}, fmt::format("fd {} is not open", fd));
  return it->second;
}

std::string Disk::read(int fd, size_t n) {
  OpenFile& o = fd_entry(fd, "read");
  if (!o.read) throw DiskError(DiskErrc::ebadf, "read", {}, {}, fmt::format("fd {} is not open for reading", fd));
  const std::string& data = o.inode->data;
  if (o.pos >= static_cast<int64_t>(data.size())) return "";
  std::string out = data.substr(static_cast<size_t>(o.pos), n);
  o.pos += static_cast<int64_t>(out.size());
  return out;
}

size_t Disk::write(int fd, std::string_view data) {
  OpenFile& o = fd_entry(fd, "write");
  if (!o.write) throw DiskError(DiskErrc::ebadf, "write", {}, {}, fmt::format("fd {} is not open for writing", fd));
  if (data.empty()) return 0;
  Inode& f = *o.inode;
  const int64_t size = static_cast<int64_t>(f.data.size());
  const int64_t pos = o.append ? size : o.pos;
  const int64_t end = pos + static_cast<int64_t>(data.size());
  const int64_t growth = std::max<int64_t>(0, end - size);
  require_space(growth, "write", {});
  if (end > size) f.data.resize(static_cast<size_t>(end), '\0');  // zero-fills a hole before pos
  f.data.replace(static_cast<size_t>(pos), data.size(), data);
  o.pos = end;
  f.mtime = sim_.now();
  used_bytes_ += growth;
  record_write(f, "write", static_cast<int64_t>(data.size()));
  return data.size();
}

void Disk::seek(int fd, int64_t offset) {
  OpenFile& o = fd_entry(fd, "lseek");
  if (offset < 0)
    throw DiskError(DiskErrc::einval, "lseek", {}, {}, fmt::format("offset {} is negative (fd {})", offset, fd));
  o.pos = offset;
}

void Disk::close(int fd) {
  OpenFile& o = fd_entry(fd, "close");
  std::shared_ptr<Inode> f = std::move(o.inode);
  fds_.erase(fd);
  --f->open_count;
  release_if_orphan(*f);
}

void Disk::fsync(int fd) { fd_entry(fd, "fsync"); }

// --- wipe ------------------------------------------------------------------------------------------------

WipeReport Disk::wipe(std::string_view reason) {
  WipeReport rep{0, 0, {}};
  std::vector<int64_t> sizes;
  for (const auto& [path, node] : nodes_) {
    if (node.is_dir) continue;
    auto img = image_.find(path);
    if (img != image_.end() && img->second == node.file->data) continue;
    rep.paths_lost.push_back(path);
    sizes.push_back(static_cast<int64_t>(node.file->data.size()));
    rep.bytes_lost += sizes.back();
  }
  rep.files_lost = static_cast<int64_t>(rep.paths_lost.size());
  sim_.record("disk", "wipe",
              {{"container", owner_}, {"reason", reason}, {"files_lost", rep.files_lost}, {"bytes_lost", rep.bytes_lost}});
  for (size_t i = 0; i < rep.paths_lost.size(); ++i)
    sim_.record("disk", "lost", {{"container", owner_}, {"path", rep.paths_lost[i]}, {"bytes", sizes[i]}});
  load_image();
  return rep;
}

}  // namespace cfsim

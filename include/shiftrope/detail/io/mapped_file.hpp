// shiftrope/detail/io/mapped_file.hpp - a read-only view of a whole file's bytes:
// either a POSIX memory mapping (no copy: model weights are used in place) or
// an owned in-memory buffer with the same interface (tests, fuzzers, files
// produced on the fly). Move-only RAII.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <shiftrope/detail/big_buffer.hpp>
#include <shiftrope/error.hpp>
#include <string>
#include <utility>
#include <vector>

namespace shiftrope::detail {

/// The bytes of one file, read-only, valid while the object lives. Moving
/// keeps data() unchanged (a mapping's address and a vector's buffer both
/// survive a move), so views into the bytes may be kept by the owner.
///
/// Alignment: a mapping starts on a page boundary; an in-memory buffer on
/// operator new's alignment (at least 16 bytes on the platforms we build on).
class mapped_file {
 public:
  mapped_file() noexcept = default;

  /// Maps `path` read-only. An empty file gives size() == 0 and a null data().
  /// Throws shiftrope::error naming the path and the system's reason.
  static mapped_file open(const std::string& path) {
    mapped_file f;
    f.name_ = path;
    const regular_file file(path, "map", std::numeric_limits<std::size_t>::max());
    if (file.size == 0) return f;  // mmap of length 0 is an error; an empty file is just empty
    void* p = ::mmap(nullptr, file.size, PROT_READ, MAP_PRIVATE, file.fd, 0);
    if (p == MAP_FAILED) fail("cannot map '", path, "': ", std::strerror(errno));
    // The mapping keeps its own reference to the file once fd is closed.
    f.map_ = p;
    f.data_ = static_cast<const std::uint8_t*>(p);
    f.size_ = file.size;
    return f;
  }

  /// Reads `path` whole into memory from big_buffer_allocator (2 MiB-aligned,
  /// advised as huge pages). Same errors as open, plus a read failure or a
  /// file that changes size while being read.
  static mapped_file read(const std::string& path) {
    mapped_file f;
    f.name_ = path;
    const regular_file file(path, "read", std::numeric_limits<std::size_t>::max() / 2);
    if (file.size == 0) return f;
    std::uint8_t* buf = nullptr;
    try {
      buf = big_buffer_allocator<std::uint8_t>().allocate(file.size);
    } catch (const std::bad_alloc&) {
      fail("cannot read '", path, "': ", file.size, " bytes do not fit in memory");
    }
    f.big_ = buf;
    f.data_ = buf;
    f.size_ = file.size;
    for (std::size_t done = 0; done < file.size;) {
      const ::ssize_t n = ::read(file.fd, buf + done, file.size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("cannot read '", path, "': ", std::strerror(errno));
      if (n == 0) fail("cannot read '", path, "': it shrank to ", done, " bytes while being read");
      done += static_cast<std::size_t>(n);
    }
    return f;
  }

  /// Holds `bytes` in memory under the display name `name` (used in error
  /// messages in place of a path).
  static mapped_file from_bytes(std::vector<std::uint8_t> bytes, std::string name) {
    mapped_file f;
    f.name_ = std::move(name);
    f.owned_ = std::move(bytes);
    f.data_ = f.owned_.empty() ? nullptr : f.owned_.data();
    f.size_ = f.owned_.size();
    return f;
  }

  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  mapped_file(mapped_file&& other) noexcept { swap(other); }
  mapped_file& operator=(mapped_file&& other) noexcept {
    if (this != &other) {
      release();
      swap(other);
    }
    return *this;
  }
  ~mapped_file() { release(); }

  /// First byte ([size()] bytes), null when empty.
  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// The path (or the display name given to from_bytes).
  const std::string& name() const noexcept { return name_; }
  /// True when the bytes come from a memory mapping.
  bool is_mapped() const noexcept { return map_ != nullptr; }
  /// True when the bytes were read into huge-page-advised memory (read).
  bool is_copied() const noexcept { return big_ != nullptr; }

 private:
  /// An open regular file and its size (at most max_size), closed on scope
  /// exit; `verb` ("map", "read") words the errors.
  struct regular_file {
    int fd = -1;
    std::size_t size = 0;
    regular_file(const std::string& path, const char* verb, std::size_t max_size) {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) fail("cannot open '", path, "': ", std::strerror(errno));
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        fail("cannot stat '", path, "': ", std::strerror(e));
      }
      if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail("cannot ", verb, " '", path, "': not a regular file");
      }
      if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > max_size) {
        ::close(fd);
        fail("cannot ", verb, " '", path, "': size ", st.st_size, " does not fit in memory");
      }
      size = static_cast<std::size_t>(st.st_size);
    }
    ~regular_file() { ::close(fd); }
    regular_file(const regular_file&) = delete;
    regular_file& operator=(const regular_file&) = delete;
  };

  void swap(mapped_file& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(map_, o.map_);
    std::swap(big_, o.big_);
    owned_.swap(o.owned_);  // swapping vectors keeps both buffers in place
    name_.swap(o.name_);
  }
  void release() noexcept {
    if (map_ != nullptr) ::munmap(map_, size_);
    if (big_ != nullptr) big_buffer_allocator<std::uint8_t>().deallocate(big_, size_);
    map_ = nullptr;
    big_ = nullptr;
    data_ = nullptr;
    size_ = 0;
    owned_.clear();
    owned_.shrink_to_fit();
  }

  const std::uint8_t* data_ = nullptr;  // [size_] bytes: the mapping or owned_.data()
  std::size_t size_ = 0;
  void* map_ = nullptr;              // mmap result, null when not mapped
  std::uint8_t* big_ = nullptr;      // read's buffer, null otherwise
  std::vector<std::uint8_t> owned_;  // the bytes of from_bytes
  std::string name_;
};

}  // namespace shiftrope::detail

// The shape of include/: every include spelled <shiftrope/...>, the include
// graph acyclic, the core (<shiftrope/core.hpp>, target shiftrope::core)
// free of file readers, tokenizers and PCRE2, and xsimd/OpenMP reached only
// through their one door each. Read from the source tree, so a new header or
// include is checked as soon as it exists.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path include_root = fs::path(SHIFTROPE_SOURCE_DIR) / "include";

/// One #include line of a header.
struct include_line {
  std::string target;   // what is between the delimiters
  bool quoted = false;  // "..." instead of <...>
  int line = 0;
};

std::vector<include_line> includes_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<include_line> out;
  std::string text;
  for (int n = 1; std::getline(in, text); ++n) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos || text.compare(first, 8, "#include") != 0) continue;
    const auto open = text.find_first_of("<\"", first + 8);
    if (open == std::string::npos) continue;
    const char close = text[open] == '<' ? '>' : '"';
    const auto end = text.find(close, open + 1);
    if (end == std::string::npos) continue;
    out.push_back({text.substr(open + 1, end - open - 1), text[open] == '"', n});
  }
  return out;
}

/// Project headers by their include name ("shiftrope/rope.hpp").
std::vector<std::string> project_headers() {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(include_root))
    if (e.is_regular_file() && e.path().extension() == ".hpp")
      names.push_back(fs::relative(e.path(), include_root).generic_string());
  std::sort(names.begin(), names.end());
  return names;
}

bool is_project(const std::string& target) {
  return target == "shiftrope.hpp" || target.rfind("shiftrope/", 0) == 0;
}

using graph = std::map<std::string, std::vector<std::string>>;

graph project_graph() {
  graph g;
  for (const auto& h : project_headers()) {
    auto& edges = g[h];
    for (const auto& inc : includes_of(include_root / h))
      if (is_project(inc.target)) edges.push_back(inc.target);
  }
  return g;
}

/// A cycle of g as "a -> b -> a", or "" when g is acyclic (depth-first
/// search with three colours; edges to nodes outside g are ignored).
std::string find_cycle(const graph& g) {
  std::map<std::string, int> colour;  // 0 new, 1 on the stack, 2 done
  std::vector<std::string> stack;
  std::string found;
  const auto visit = [&](const auto& self, const std::string& node) -> bool {
    colour[node] = 1;
    stack.push_back(node);
    const auto it = g.find(node);
    if (it != g.end()) {
      for (const auto& next : it->second) {
        if (g.find(next) == g.end()) continue;
        if (colour[next] == 1) {
          const auto from = std::find(stack.begin(), stack.end(), next);
          for (auto s = from; s != stack.end(); ++s) found += *s + " -> ";
          found += next;
          return true;
        }
        if (colour[next] == 0 && self(self, next)) return true;
      }
    }
    stack.pop_back();
    colour[node] = 2;
    return false;
  };
  for (const auto& [node, edges] : g)
    if (colour[node] == 0 && visit(visit, node)) return found;
  return "";
}

/// Every header reachable from `root` (itself included).
std::set<std::string> closure(const graph& g, const std::string& root) {
  std::set<std::string> seen{root};
  std::vector<std::string> todo{root};
  while (!todo.empty()) {
    const std::string h = todo.back();
    todo.pop_back();
    const auto it = g.find(h);
    if (it == g.end()) continue;
    for (const auto& next : it->second)
      if (seen.insert(next).second) todo.push_back(next);
  }
  return seen;
}

}  // namespace

TEST_CASE("layout: the cycle finder finds a planted cycle and passes a chain") {
  const graph cyclic = {{"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}, {"d", {"a"}}};
  const std::string c = find_cycle(cyclic);
  CHECK(c.find("a -> b -> c -> a") != std::string::npos);
  const graph chain = {{"a", {"b", "c"}}, {"b", {"c"}}, {"c", {}}};
  CHECK(find_cycle(chain).empty());
  CHECK(find_cycle({{"x", {"x"}}}) == "x -> x");
}

TEST_CASE("layout: includes inside include/ are spelled <shiftrope/...> and exist") {
  const auto headers = project_headers();
  REQUIRE(headers.size() > 20);
  const std::set<std::string> known(headers.begin(), headers.end());
  for (const auto& h : headers) {
    for (const auto& inc : includes_of(include_root / h)) {
      INFO(h << ":" << inc.line << " includes " << inc.target);
      CHECK_FALSE(inc.quoted);
      if (is_project(inc.target)) CHECK(known.count(inc.target) == 1);
    }
  }
}

TEST_CASE("layout: the include graph of the library is acyclic") {
  const std::string cycle = find_cycle(project_graph());
  INFO("cycle: " << cycle);
  CHECK(cycle.empty());
}

TEST_CASE("layout: the core reaches no file reader, tokenizer, model or PCRE2") {
  const graph g = project_graph();
  const auto core = closure(g, "shiftrope/core.hpp");
  REQUIRE(core.count("shiftrope/attention.hpp") == 1);
  for (const auto& h : core) {
    INFO("the core reaches " << h);
    CHECK(h.rfind("shiftrope/detail/io/", 0) != 0);
    CHECK(h.rfind("shiftrope/detail/text/", 0) != 0);
    CHECK(h.rfind("shiftrope/detail/model/", 0) != 0);
    for (const char* full :
         {"shiftrope/gguf.hpp", "shiftrope/llama2c.hpp", "shiftrope/tokenizer.hpp",
          "shiftrope/model.hpp", "shiftrope/model_config.hpp"})
      CHECK(h != full);
    for (const auto& inc : includes_of(include_root / h)) CHECK(inc.target != "pcre2.h");
  }
}

TEST_CASE(
    "layout: xsimd, intrinsics and OpenMP only behind detail/simd.hpp and detail/parallel.hpp") {
  for (const auto& h : project_headers()) {
    for (const auto& inc : includes_of(include_root / h)) {
      INFO(h << " includes " << inc.target);
      if (inc.target.rfind("xsimd/", 0) == 0 || inc.target == "immintrin.h")
        CHECK(h == "shiftrope/detail/simd.hpp");
      if (inc.target == "omp.h") CHECK(h == "shiftrope/detail/parallel.hpp");
    }
  }
}

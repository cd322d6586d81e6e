// Built by the install_consumer test against an installed coring.
#include <coring/version.hpp>
#include <cstdio>

int main() {
  std::printf("coring %.*s\n", static_cast<int>(coring::version_string.size()),
              coring::version_string.data());
  return coring::version_string.empty() ? 1 : 0;
}

// Built by tests/package/test_install.sh with nothing but
// `pkg-config --cflags --libs lockstep`: a model from core/keras.h, its
// parameter count, and the MPI library lockstep's distributed part links.
#include <lockstep/version.h>

#include <cstdio>

#include "core/keras.h"
#include "core/model.h"
#include "distributed/runtime.h"

int main() {
  using namespace lockstep;
  keras::Sequential net({14});
  net.add(keras::Dense(64).kernel_initializer("uniform"));
  net.add(keras::BatchNormalization());
  net.add(keras::Activation("tanh"));
  net.add(keras::Dense(2).activation("softmax"));
  Model model(net.spec());
  size_t trainable = 0;
  for (const ParameterInfo& p : model.parameters().entries())
    if (p.trainable) trainable += p.size;
  std::printf("pkgconfig_main: lockstep %s, %zu trainable parameters, MPI: %s\n", LOCKSTEP_VERSION, trainable,
              mpi_library_version().c_str());
  return trainable == 14 * 64 + 64 + 2 * 64 + 64 * 2 + 2 ? 0 : 1;  // Keras: 1,218
}

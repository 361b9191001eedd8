#include "core/callbacks/progress_logger.h"

#include <unistd.h>

#include <string>

namespace lockstep {
namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

ProgressLogger::ProgressLogger(int verbose, int64_t epochs, std::FILE* out, bool allow_bar, bool has_validation,
                               bool has_accuracy)
    : verbose_(verbose),
      bar_(allow_bar && verbose == 1 && isatty(fileno(out))),
      has_validation_(has_validation),
      has_accuracy_(has_accuracy),
      epochs_(epochs),
      out_(out) {}

void ProgressLogger::on_epoch_begin(int64_t epoch, int64_t steps) {
  steps_ = steps;
  epoch_start_ = last_draw_ = std::chrono::steady_clock::now();
  if (verbose_ == 0) return;
  if (bar_) std::fprintf(out_, "Epoch %lld/%lld\n", static_cast<long long>(epoch + 1), static_cast<long long>(epochs_));
}

void ProgressLogger::on_step_end(const StepEnd& s) {
  const int64_t step = s.step_in_epoch, steps = s.steps, samples = s.local_samples;
  const LossTotals& totals = *s.totals;
  if (!bar_ || samples == 0) return;
  // Redrawing costs a syscall; ten times a second is enough for a human.
  if (step < steps && seconds_since(last_draw_) < 0.1) return;
  last_draw_ = std::chrono::steady_clock::now();
  const int width = 30;
  const int done = static_cast<int>(width * step / steps);
  std::string bar(static_cast<size_t>(done), '=');
  if (done < width) bar += '>' + std::string(static_cast<size_t>(width - done - 1), '.');
  const double elapsed = seconds_since(epoch_start_);
  const double eta = step > 0 ? elapsed / step * (steps - step) : 0;
  std::fprintf(out_, "\r%lld/%lld [%s] - ETA: %.0fs - loss: %.4f", static_cast<long long>(step),
               static_cast<long long>(steps), bar.c_str(), eta, totals.loss_sum / samples);
  if (has_accuracy_) std::fprintf(out_, " - accuracy: %.4f", totals.correct / samples);
  std::fflush(out_);
}

void ProgressLogger::on_epoch_end(const EpochMetrics& m) {
  const bool has_validation = has_validation_, has_accuracy = has_accuracy_;
  if (verbose_ == 0) return;
  const double ms_per_step = steps_ > 0 ? 1000.0 * m.seconds() / steps_ : 0;
  if (bar_) {
    std::fprintf(out_, "\r%lld/%lld [%s] - %.1fs %.2fms/step", static_cast<long long>(m.steps()),
                 static_cast<long long>(steps_), std::string(30, '=').c_str(), m.seconds(), ms_per_step);
  } else {
    std::fprintf(out_, "Epoch %lld/%lld - %lld steps - %.2fs %.2fms/step", static_cast<long long>(m.epoch()),
                 static_cast<long long>(epochs_), static_cast<long long>(m.steps()), m.seconds(), ms_per_step);
  }
  std::fprintf(out_, " - loss: %.4f", m.loss());
  if (has_accuracy) std::fprintf(out_, " - accuracy: %.4f", m.accuracy());
  if (has_validation) {
    std::fprintf(out_, " - val_loss: %.4f", m.val_loss());
    if (has_accuracy) std::fprintf(out_, " - val_accuracy: %.4f", m.val_accuracy());
  }
  std::fprintf(out_, " - %.0f samples/s\n", m.samples_per_second());
  std::fflush(out_);
}

}  // namespace lockstep

#include "core/callbacks/callback.h"

namespace lockstep {

void CallbackList::save_state(CheckpointHeader& header) const {
  for (const auto& c : callbacks_) {
    if (c->state_name().empty()) continue;
    CallbackState* state = header.add_callbacks();
    state->set_name(c->state_name());
    c->save_state(*state);
  }
}

void CallbackList::collect_tensors(std::vector<TensorRef>& out) const {
  for (const auto& c : callbacks_) c->collect_tensors(out);
}

void CallbackList::restore_state(const CheckpointContents& checkpoint) {
  for (auto& c : callbacks_) {
    if (c->state_name().empty()) continue;
    for (const CallbackState& state : checkpoint.header.callbacks())
      if (state.name() == c->state_name()) c->restore_state(state);
    c->restore_tensors(checkpoint);
  }
}

}  // namespace lockstep

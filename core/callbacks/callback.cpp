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

void CallbackList::restore_state(const CheckpointHeader& header) {
  for (auto& c : callbacks_) {
    if (c->state_name().empty()) continue;
    for (const CallbackState& state : header.callbacks())
      if (state.name() == c->state_name()) c->restore_state(state);
  }
}

}  // namespace lockstep

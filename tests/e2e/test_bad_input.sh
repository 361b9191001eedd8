#!/usr/bin/env bash
# Bad input gets "error: WHERE: WHAT" and exit status 2 — never a crash.
source "$(dirname "$0")/lib.sh"
seed="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"

# A small config around a model body and a data block.
write_config() {  # FILE LAYERS DATA [INPUT]
  cat >"$1" <<CFG
model {
  input_shape: ${4:-3}
$2
}
data { $3 }
epochs: 1
batch_size: 4
run_dir: "run"
verbose: 0
CFG
}
good_layers='  layers { dense { units: 2 activation: "softmax" } }'
printf 'a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,9,0\n' >good.csv

# usage
expect_error 2 "unknown command 'fit'" -- "$TRAINER" fit "$seed"
expect_error 2 "has no option --epochs" -- "$TRAINER" train "$seed" --epochs 3
expect_error 2 "takes 1 argument" -- "$TRAINER" train
expect_error 2 "needs --model DIR or --checkpoint FILE" -- "$TRAINER" evaluate "$seed"
expect_error 2 "not both" -- "$TRAINER" evaluate "$seed" --model a --checkpoint b

# config syntax, unknown layer, unknown --set field
write_config bad_layer.pbtxt '  layers { conv3d { filters: 2 } }' 'csv { path: "good.csv" }'
expect_error 2 "bad_layer.pbtxt:3:.*no field named \"conv3d\".*known: .*dense" -- "$TRAINER" train bad_layer.pbtxt
expect_error 2 "--set epoch=3: unknown field 'epoch'.*known: .*epochs" -- "$TRAINER" train "$seed" --set epoch=3
expect_error 2 "--set batch_size=many: 'many' is not a number" -- "$TRAINER" train "$seed" --set batch_size=many
expect_error 2 "cannot open config" -- "$TRAINER" train missing.pbtxt

# model
write_config act.pbtxt '  layers { dense { units: 2 activation: "swish" } }' 'csv { path: "good.csv" }'
expect_error 2 "act.pbtxt:3: model.layers\[0\].dense.activation: unknown activation 'swish' \(known: relu" -- "$TRAINER" train act.pbtxt
write_config units.pbtxt '  layers { dense { activation: "softmax" } }' 'csv { path: "good.csv" }'
expect_error 2 "model.layers\[0\].dense.units: missing" -- "$TRAINER" train units.pbtxt
write_config neg.pbtxt '  layers { dense { units: -4 } }' 'csv { path: "good.csv" }'
expect_error 2 "neg.pbtxt:3: model.layers\[0\].dense.units: must be > 0, got -4" -- "$TRAINER" train neg.pbtxt
expect_error 2 "model.layers\[3\].dropout.rate: must be in \[0, 1\), got 1.5" -- \
  "$TRAINER" train "$seed" --set "model.layers[3].dropout.rate=1.5"
write_config drop.pbtxt "$good_layers
  layers { dropout { rate: -0.1 } }" 'csv { path: "good.csv" }'
expect_error 2 "drop.pbtxt:4: model.layers\[1\].dropout.rate: must be in \[0, 1\)" -- "$TRAINER" train drop.pbtxt
write_config shape.pbtxt "$good_layers" 'csv { path: "good.csv" }' 5
expect_error 2 "model.input_shape: input_shape \[5\] disagrees with data \(.*good.csv\), whose samples have shape \[3\]" -- \
  "$TRAINER" train shape.pbtxt
write_config zero_in.pbtxt "$good_layers" 'csv { path: "good.csv" }' -3
expect_error 2 "model.input_shape: sizes must be > 0" -- "$TRAINER" train zero_in.pbtxt
expect_error 2 "batch_size: must be > 0" -- "$TRAINER" train "$seed" --set batch_size=0
expect_error 2 "unknown loss 'hinge'" -- "$TRAINER" train "$seed" --set loss=hinge

# data
write_config data.pbtxt "$good_layers" 'csv { path: "d.csv" }'
expect_error 2 "d.csv.*(cannot open|No such file)" -- "$TRAINER" train data.pbtxt
printf 'a,b,c,label\n1,2,3,0\n4,5,1\n' >d.csv
expect_error 2 "d.csv:3: .*column" -- "$TRAINER" train data.pbtxt
printf '1,2,3,0\n4,x,6,1\n' >d.csv
expect_error 2 "d.csv:2: .*'x' is not a number" -- "$TRAINER" train data.pbtxt
printf '1,2,3,0\n4,nan,6,1\n' >d.csv
expect_error 2 "d.csv:2: missing value 'nan' in column 2; set missing: \"mean\"" -- "$TRAINER" train data.pbtxt
printf '1,2,3,0\n4,inf,6,1\n' >d.csv
expect_error 2 "d.csv:2: .*(Inf|inf|infinite)" -- "$TRAINER" train data.pbtxt
write_config classes.pbtxt "$good_layers" 'csv { path: "good.csv" classes: 2 }'
printf '1,2,3,0\n4,5,6,7\n' >good7.csv
write_config range.pbtxt "$good_layers" 'csv { path: "good7.csv" classes: 2 }'
expect_error 2 "good7.csv:2: .*label 7 out of range" -- "$TRAINER" train range.pbtxt
printf '1,2,3,0\n4,5,6,2\n' >three.csv
write_config toomany.pbtxt "$good_layers" 'csv { path: "three.csv" }'
expect_error 2 "3 classes but the model outputs 2 units" -- "$TRAINER" train toomany.pbtxt
: >empty.csv
write_config empty.pbtxt "$good_layers" 'csv { path: "empty.csv" }'
expect_error 2 "empty.csv.*no samples" -- "$TRAINER" train empty.pbtxt
write_config nodata.pbtxt "$good_layers" ''
expect_error 2 "data: .*(known|synthetic)" -- "$TRAINER" train nodata.pbtxt
write_config syn.pbtxt "$good_layers" 'synthetic { classes: 1 }'
expect_error 2 "data.synthetic.classes: must be >= 2" -- "$TRAINER" train syn.pbtxt

# checkpoints
printf 'not a checkpoint' >junk.pb
expect_error 2 "junk.pb: not a lockstep checkpoint" -- "$TRAINER" inspect junk.pb
expect_error 2 "junk.pb: not a lockstep checkpoint" -- "$TRAINER" evaluate "$seed" --checkpoint junk.pb
expect_error 2 "nothing.pb: cannot open checkpoint" -- "$TRAINER" inspect nothing.pb
finish

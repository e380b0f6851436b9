# scripts/lib/demo_shape.sh (sourced by make_demo_model.sh and gpu/demo_sweep.sh): the demo
# model's shape beside the preset's, from the environment, as `visual-rft model init` flags.
#   demo_shape_args   sets the array SHAPE_ARGS from ROPE_THETA, MROPE_SECTION, PATCH_SIZE,
#                     HIDDEN, LAYERS, VISION_WIDTH and VISION_DEPTH (unset or empty: the preset's)
demo_shape_args() {
  SHAPE_ARGS=()
  [ -n "${ROPE_THETA:-}" ] && SHAPE_ARGS+=(--rope-theta "$ROPE_THETA")
  [ -n "${MROPE_SECTION:-}" ] && SHAPE_ARGS+=(--mrope-section "$MROPE_SECTION")
  [ -n "${PATCH_SIZE:-}" ] && SHAPE_ARGS+=(--patch-size "$PATCH_SIZE")
  [ -n "${HIDDEN:-}" ] && SHAPE_ARGS+=(--hidden-size "$HIDDEN")
  [ -n "${LAYERS:-}" ] && SHAPE_ARGS+=(--layers "$LAYERS")
  [ -n "${VISION_WIDTH:-}" ] && SHAPE_ARGS+=(--vision-width "$VISION_WIDTH")
  [ -n "${VISION_DEPTH:-}" ] && SHAPE_ARGS+=(--vision-depth "$VISION_DEPTH")
  return 0
}

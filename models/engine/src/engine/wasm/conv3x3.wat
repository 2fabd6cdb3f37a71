;; 3x3x3 convolution (stride 1, zero 'same' padding) on WebAssembly SIMD, run on tfjs-wasm's own
;; memory (imported), so inputs and outputs are tfjs tensors and nothing is copied.
;; Regenerate conv3x3-module.ts after editing: npm run build:wasm (a test checks that it was)
(module
  (import "env" "memory" (memory 1))

  ;; dst = src [d, h, w, c] with one zero voxel before and after each of d, h and w: (d + 2) (h + 2) (w + 2) c floats.
  (func (export "pad")
    (param $src i32) (param $dst i32) (param $d i32) (param $h i32) (param $w i32) (param $c i32)
    (local $row i32) (local $sy i32) (local $sz i32) (local $z i32) (local $y i32) (local $to i32)
    (local.set $row (i32.shl (i32.mul (local.get $w) (local.get $c)) (i32.const 2)))
    (local.set $sy (i32.shl (i32.mul (i32.add (local.get $w) (i32.const 2)) (local.get $c)) (i32.const 2)))
    (local.set $sz (i32.mul (local.get $sy) (i32.add (local.get $h) (i32.const 2))))
    (memory.fill (local.get $dst) (i32.const 0) (i32.mul (local.get $sz) (i32.add (local.get $d) (i32.const 2))))
    (local.set $z (i32.const 0))
    (loop $zl
      (local.set $to (i32.add (i32.add (local.get $dst) (i32.shl (local.get $c) (i32.const 2)))
        (i32.add (i32.mul (i32.add (local.get $z) (i32.const 1)) (local.get $sz)) (local.get $sy))))
      (local.set $y (i32.const 0))
      (loop $yl
        (memory.copy (local.get $to) (local.get $src) (local.get $row))
        (local.set $to (i32.add (local.get $to) (local.get $sy)))
        (local.set $src (i32.add (local.get $src) (local.get $row)))
        (br_if $yl (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (local.get $h))))
      (br_if $zl (i32.lt_u (local.tee $z (i32.add (local.get $z) (i32.const 1))) (local.get $d)))))

  ;; out[z, y, x, co] = bias[co] + sum over (dz, dy, dx, ci) of in[z + dz, y + dy, x + dx, ci] * wt[dz, dy, dx, ci, co],
  ;; then max(0, .) if relu. in: the padded input from "pad"; wt: [3, 3, 3, cin, cout]; bias: [cout];
  ;; out: [d, h, w, cout]. The last group of a row may read up to 3 voxels past the row's end (into
  ;; the next padded row, which exists because rows on the far padding are skipped) and stores
  ;; only the voxels inside the row.
  ;; Needs cout % 8 == 0.
  ;; One step computes 4 neighbouring voxels x 8 output channels in 8 f32x4 accumulators: per
  ;; input value, 2 weight vectors and 4 splatted inputs feed 8 multiply-adds. (dx, ci) of one
  ;; padded row are 3 cin consecutive floats, and so are their weights. Rows (dz, dy) that fall on
  ;; the padding are skipped, which matters for the network's smallest maps.
  (func (export "conv3x3")
    (param $in i32) (param $wt i32) (param $bias i32) (param $out i32)
    (param $d i32) (param $h i32) (param $w i32) (param $cin i32) (param $cout i32) (param $relu i32)
    (call $conv3x3_planes (local.get $in) (local.get $wt) (local.get $bias) (local.get $out)
      (local.get $d) (local.get $h) (local.get $w) (local.get $cin) (local.get $cout) (local.get $relu)
      (i32.const 0) (local.get $d)))

  ;; The output planes z0 <= z < z1 only (z0 < z1), so that threads on a shared memory can split one
  ;; convolution: each writes its own planes and only reads the rest.
  (func $conv3x3_planes (export "conv3x3_planes")
    (param $in i32) (param $wt i32) (param $bias i32) (param $out i32)
    (param $d i32) (param $h i32) (param $w i32) (param $cin i32) (param $cout i32) (param $relu i32)
    (param $z0 i32) (param $z1 i32)
    (local $sx i32) (local $sy i32) (local $sz i32) (local $wstep i32) (local $taps i32) (local $wrow i32)
    (local $sx2 i32) (local $sx3 i32)
    (local $z i32) (local $y i32) (local $x i32) (local $cb i32) (local $dz i32) (local $dy i32) (local $dzEnd i32) (local $dyEnd i32)
    (local $vox i32) (local $o i32) (local $p i32) (local $wp i32) (local $j i32) (local $n i32)
    (local $w0 v128) (local $w1 v128) (local $i0 v128) (local $i1 v128) (local $i2 v128) (local $i3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $sx (i32.shl (local.get $cin) (i32.const 2)))
    (local.set $sy (i32.mul (local.get $sx) (i32.add (local.get $w) (i32.const 2))))
    (local.set $sz (i32.mul (local.get $sy) (i32.add (local.get $h) (i32.const 2))))
    (local.set $wstep (i32.shl (local.get $cout) (i32.const 2)))
    (local.set $sx2 (i32.shl (local.get $sx) (i32.const 1)))
    (local.set $sx3 (i32.mul (local.get $sx) (i32.const 3)))
    (local.set $taps (i32.mul (local.get $cin) (i32.const 3)))
    (local.set $wrow (i32.mul (local.get $taps) (local.get $wstep)))
    (local.set $z (local.get $z0))
    (loop $zl
      (local.set $dzEnd (select (i32.const 2) (i32.const 3) (i32.eq (i32.add (local.get $z) (i32.const 1)) (local.get $d))))
      (local.set $y (i32.const 0))
      (loop $yl
        (local.set $dyEnd (select (i32.const 2) (i32.const 3) (i32.eq (i32.add (local.get $y) (i32.const 1)) (local.get $h))))
        (local.set $x (i32.const 0))
        (loop $xl
          (local.set $vox (i32.add (local.get $in)
            (i32.add (i32.mul (local.get $z) (local.get $sz))
              (i32.add (i32.mul (local.get $y) (local.get $sy)) (i32.mul (local.get $x) (local.get $sx))))))
          ;; the voxel group's first output, and how many of its 4 voxels are inside the row
          (local.set $o (i32.add (local.get $out)
            (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $z) (local.get $h)) (local.get $y)) (local.get $w)) (local.get $x))
              (local.get $wstep))))
          (local.set $n (i32.sub (local.get $w) (local.get $x)))
          (local.set $cb (i32.const 0))
          (loop $cl
            (local.set $a0 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $cb) (i32.const 2)))))
            (local.set $a1 (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $cb) (i32.const 2)))))
            (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a1))
            (local.set $a4 (local.get $a0)) (local.set $a5 (local.get $a1))
            (local.set $a6 (local.get $a0)) (local.set $a7 (local.get $a1))
            ;; rows (dz, dy) on the zero padding are skipped: dz from z = 0's 1 to z = d - 1's 2, same for dy
            (local.set $dz (i32.eqz (local.get $z)))
            (loop $dzl
              (local.set $dy (i32.eqz (local.get $y)))
              (loop $dyl
                (local.set $p (i32.add (local.get $vox)
                  (i32.add (i32.mul (local.get $dz) (local.get $sz)) (i32.mul (local.get $dy) (local.get $sy)))))
                (local.set $wp (i32.add (i32.add (local.get $wt) (i32.shl (local.get $cb) (i32.const 2)))
                  (i32.mul (i32.add (i32.mul (local.get $dz) (i32.const 3)) (local.get $dy)) (local.get $wrow))))
                ;; the row's 3 cin (dx, ci) entries; unrolling this loop by 3 measured 15% slower in V8
                ;; (46 against 40 ms at 128x64x128, 1 -> 16 channels)
                (local.set $j (i32.const 0))
                (loop $tl
                  (local.set $w0 (v128.load (local.get $wp)))
                  (local.set $w1 (v128.load offset=16 (local.get $wp)))
                  (local.set $i0 (v128.load32_splat (local.get $p)))
                  (local.set $i1 (v128.load32_splat (i32.add (local.get $p) (local.get $sx))))
                  (local.set $i2 (v128.load32_splat (i32.add (local.get $p) (local.get $sx2))))
                  (local.set $i3 (v128.load32_splat (i32.add (local.get $p) (local.get $sx3))))
                  (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $i0) (local.get $w0))))
                  (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $i0) (local.get $w1))))
                  (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $i1) (local.get $w0))))
                  (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $i1) (local.get $w1))))
                  (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $i2) (local.get $w0))))
                  (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $i2) (local.get $w1))))
                  (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $i3) (local.get $w0))))
                  (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $i3) (local.get $w1))))
                  (local.set $wp (i32.add (local.get $wp) (local.get $wstep)))
                  (local.set $p (i32.add (local.get $p) (i32.const 4)))
                  (br_if $tl (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $taps))))
                (br_if $dyl (i32.lt_u (local.tee $dy (i32.add (local.get $dy) (i32.const 1))) (local.get $dyEnd))))
              (br_if $dzl (i32.lt_u (local.tee $dz (i32.add (local.get $dz) (i32.const 1))) (local.get $dzEnd))))
            (if (local.get $relu)
              (then
                (local.set $a0 (f32x4.max (local.get $a0) (v128.const f32x4 0 0 0 0)))
                (local.set $a1 (f32x4.max (local.get $a1) (v128.const f32x4 0 0 0 0)))
                (local.set $a2 (f32x4.max (local.get $a2) (v128.const f32x4 0 0 0 0)))
                (local.set $a3 (f32x4.max (local.get $a3) (v128.const f32x4 0 0 0 0)))
                (local.set $a4 (f32x4.max (local.get $a4) (v128.const f32x4 0 0 0 0)))
                (local.set $a5 (f32x4.max (local.get $a5) (v128.const f32x4 0 0 0 0)))
                (local.set $a6 (f32x4.max (local.get $a6) (v128.const f32x4 0 0 0 0)))
                (local.set $a7 (f32x4.max (local.get $a7) (v128.const f32x4 0 0 0 0)))))
            ;; voxel k of the group is k cout floats after voxel 0; past the row's end nothing is stored
            (local.set $p (i32.add (local.get $o) (i32.shl (local.get $cb) (i32.const 2))))
            (v128.store (local.get $p) (local.get $a0))
            (v128.store offset=16 (local.get $p) (local.get $a1))
            (if (i32.gt_u (local.get $n) (i32.const 1))
              (then
                (local.set $p (i32.add (local.get $p) (local.get $wstep)))
                (v128.store (local.get $p) (local.get $a2))
                (v128.store offset=16 (local.get $p) (local.get $a3))))
            (if (i32.gt_u (local.get $n) (i32.const 2))
              (then
                (local.set $p (i32.add (local.get $p) (local.get $wstep)))
                (v128.store (local.get $p) (local.get $a4))
                (v128.store offset=16 (local.get $p) (local.get $a5))))
            (if (i32.gt_u (local.get $n) (i32.const 3))
              (then
                (local.set $p (i32.add (local.get $p) (local.get $wstep)))
                (v128.store (local.get $p) (local.get $a6))
                (v128.store offset=16 (local.get $p) (local.get $a7))))
            (br_if $cl (i32.lt_u (local.tee $cb (i32.add (local.get $cb) (i32.const 8))) (local.get $cout))))
          (br_if $xl (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 4))) (local.get $w))))
        (br_if $yl (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (local.get $h))))
      (br_if $zl (i32.lt_u (local.tee $z (i32.add (local.get $z) (i32.const 1))) (local.get $z1))))))

package quant

// The scale searches of ggml's K-quant reference quantizers (make_qkx2_quants,
// make_qx_quants, make_q3_quants in ggml-quants.c), transcribed operation by
// operation in float32. Products feeding a sum are wrapped in float32(...) so
// that the compiler never fuses them into an FMA, which would change the
// chosen quants in near-tie cases.

// groupMaxEps is GROUP_MAX_EPS: a group whose largest |x| is below it is
// treated as all zero.
const groupMaxEps = 1e-15

// makeQKX2 fits x ≈ scale·L + min with L ∈ [0, nmax] and min ≤ 0, minimising
// Σ w·|err| (useMAD) or Σ w·err². It starts from the min/max grid, then tries
// iscale = (rmin + rdelta·is + nmax)/(max − min) for is = 0..nstep, solving
// the weighted least-squares scale and min for each candidate quantization
// and keeping the best. Like the C code, a better candidate also replaces the
// min used by the following candidates. It writes the quants to L (laux is
// scratch of the same length) and returns scale and −min.
func makeQKX2(x, w []float32, L, laux []uint8, nmax int, rmin, rdelta float32, nstep int, useMAD bool) (scale, negMin float32) {
	n := len(x)
	mn, mx := x[0], x[0]
	sumW := w[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		clear(L[:n])
		return 0, -mn
	}
	fmax := float32(nmax)
	iscale := fmax / (mx - mn)
	scale = 1 / iscale
	var bestErr float32
	for i := 0; i < n; i++ {
		l := nearestInt(iscale * (x[i] - mn))
		L[i] = uint8(max(0, min(nmax, l)))
		diff := float32(float32(scale*float32(L[i]))+mn) - x[i]
		bestErr += float32(w[i] * errTerm(diff, useMAD))
	}
	if nstep < 1 {
		return scale, -mn
	}
	for is := 0; is <= nstep; is++ {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + fmax) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := max(0, min(nmax, nearestInt(iscale*(x[i]-mn))))
			laux[i] = uint8(l)
			fl := float32(l)
			wl := float32(w[i] * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curErr float32
			for i := 0; i < n; i++ {
				diff := float32(float32(thisScale*float32(laux[i]))+thisMin) - x[i]
				curErr += float32(w[i] * errTerm(diff, useMAD))
			}
			if curErr < bestErr {
				copy(L[:n], laux[:n])
				bestErr = curErr
				scale = thisScale
				mn = thisMin
			}
		}
	}
	return scale, -mn
}

// errTerm is |diff| (mean absolute deviation) or diff².
func errTerm(diff float32, useMAD bool) float32 {
	if useMAD {
		return abs32(diff)
	}
	return diff * diff
}

// signedMax returns the element of x of largest magnitude (first on ties) and
// that magnitude.
func signedMax(x []float32) (mx, amax float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	return mx, amax
}

// makeQX is make_qx_quants with rmse_type 1 and no importance weights
// (weights w = x²): symmetric quants L ∈ [0, 2·nmax) (stored with +nmax) for
// x ≈ scale·(L − nmax). It tries iscale = −(nmax + 0.1·t)/max for t = 0 and
// t = ±1..±9, keeping the quantization that maximises (Σw·x·l)²/Σw·l², and
// returns the least-squares scale of the kept one (0 for an all-zero group).
func makeQX(x []float32, L []int8, nmax int) float32 {
	n := len(x)
	mx, amax := signedMax(x)
	if amax < groupMaxEps {
		clear(L[:n])
		return 0
	}
	fnmax := float32(nmax)
	iscale := -fnmax / mx
	var sumLX, sumL2 float32
	for i := 0; i < n; i++ {
		l := max(-nmax, min(nmax-1, nearestInt(iscale*x[i])))
		L[i] = int8(l + nmax)
		w := x[i] * x[i]
		fl := float32(l)
		sumLX += float32(float32(w*x[i]) * fl)
		sumL2 += float32(float32(w*fl) * fl)
	}
	scale := float32(0)
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fnmax + float32(0.1*float32(is))) / mx
		sumLX, sumL2 = 0, 0
		for i := 0; i < n; i++ {
			l := max(-nmax, min(nmax-1, nearestInt(iscale*x[i])))
			w := x[i] * x[i]
			fl := float32(l)
			sumLX += float32(float32(w*x[i]) * fl)
			sumL2 += float32(float32(w*fl) * fl)
		}
		if sumL2 > 0 && float32(sumLX*sumLX) > float32(best*sumL2) {
			for i := 0; i < n; i++ {
				l := max(-nmax, min(nmax-1, nearestInt(iscale*x[i])))
				L[i] = int8(l + nmax)
			}
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

// makeQ3 is make_q3_quants with do_rmse: symmetric quants in [−nmax, nmax)
// from iscale = −nmax/max, refined by up to 5 passes of coordinate descent
// that move one quant at a time when that raises (Σw·x·l)²/Σw·l² (w = x²).
// L receives l + nmax; the result is Σw·x·l / Σw·l² (0 for an all-zero group).
func makeQ3(x []float32, L []int8, nmax int) float32 {
	n := len(x)
	mx, amax := signedMax(x)
	if amax < groupMaxEps {
		clear(L[:n])
		return 0
	}
	iscale := -float32(nmax) / mx
	var sumLX, sumL2 float32
	for i := 0; i < n; i++ {
		l := max(-nmax, min(nmax-1, nearestInt(iscale*x[i])))
		L[i] = int8(l)
		w := x[i] * x[i]
		fl := float32(l)
		sumLX += float32(float32(w*x[i]) * fl)
		sumL2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i := 0; i < n; i++ {
			w := x[i] * x[i]
			fli := float32(L[i])
			slx := sumLX - float32(float32(w*x[i])*fli)
			if slx > 0 {
				sl2 := sumL2 - float32(float32(w*fli)*fli)
				newL := max(-nmax, min(nmax-1, nearestInt(float32(x[i]*sl2)/slx)))
				if newL != int(L[i]) {
					fnl := float32(newL)
					slx += float32(float32(w*x[i]) * fnl)
					sl2 += float32(float32(w*fnl) * fnl)
					if sl2 > 0 && float32(float32(slx*slx)*sumL2) > float32(float32(sumLX*sumLX)*sl2) {
						L[i] = int8(newL)
						sumLX, sumL2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := 0; i < n; i++ {
		L[i] += int8(nmax)
	}
	if sumL2 > 0 {
		return sumLX / sumL2
	}
	return 0
}

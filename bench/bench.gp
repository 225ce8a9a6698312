# bench.gp - the picture of the design comparison of `uvma bench`
# (docs/bench.md), drawn from the data file the benchmark writes:
#
#     gnuplot -c bench.gp DATA OUT.svg     (or OUT.png)
#
# `uvma bench --plot OUT` writes OUT.dat and runs this script on it; run it
# by hand to restyle the picture without measuring again.
#
# The data (bench_designs.c) has a block per design and kind, two blank
# lines apart, each opening with a line that names the design:
#   blocks 0-3  the bars of each design: x (the same for every design),
#               label, faults/s, p50 ns, p99 ns per fault scenario
#   blocks 4-7  the scale curve of each design: areas, faults/s,
#               mmap+munmap pairs/s
# NaN: not measured; a design not run has no lines but its name.
#
# The picture: faults/s as clustered bars with their value on top, the
# latency as bars of p50 with a whisker up to p99, and the scale curves.
# A panel, or a design within a panel, without any value is left out.
# Every value axis is logarithmic, from the decade below the smallest value
# to the decade above the largest: whole decades label well, and boxes on a
# log axis need a bottom to stand on.

if (ARGC != 2) {
	print "usage: gnuplot -c bench.gp DATA OUT.svg|OUT.png"
	exit status 2
}
dat = ARG1
out = ARG2

# One colour per design, in the order of the blocks (refcount, rwsem,
# global, kernel): Okabe-Ito colours, told apart with colour blindness
# too; the kernel, the reference, in grey.
nd = 4
array colour[nd] = ["#0072B2", "#009E73", "#D55E00", "#808080"]
step = 0.2 # x distance of neighbouring bars in a cluster
bar_x(d) = (d - (nd + 1) / 2.0) * step

# ---- what there is to draw ------------------------------------------------
# (stats keeps to the ranges set, so every stats runs here, before any
# range is set)

# The values of a column, drawable on a log axis (positive), and stand-ins
# for the others that leave the maximum, or the minimum, alone: stats on a
# column without any value would stop with a warning.
pos(c) = valid(c) && column(c) > 0 ? column(c) : 0
low(c) = valid(c) && column(c) > 0 ? column(c) : 1e300

# The series: 1 faults/s, 2 p50, 3 p99 (bars), 4 faults/s, 5 pairs/s
# (scale); the panels: 1 faults/s, 2 latency, 3 and 4 the scale curves.
panel(k) = k == 1 ? 1 : k <= 3 ? 2 : k - 1
block(k, d) = k <= 3 ? d - 1 : nd + d - 1
column_of(k) = k <= 3 ? k + 2 : k - 2
array series[5] # the designs with a value in series k, as "1 3 4"
array lo[4] = [1e300, 1e300, 1e300, 1e300]
array hi[4] = [0, 0, 0, 0]
clusters = 0 # bars: the clusters, and the block their labels come from
labels = -1
areas_lo = 1e300
areas_hi = 0
do for [k = 1:5] {
	series[k] = ""
	do for [d = 1:nd] {
		# a constant counts every line, the one naming the design too
		stats dat index block(k, d) using (1) nooutput
		if (STATS_records > 1) {
			c = column_of(k)
			stats dat index block(k, d) using (pos(c)):(low(c)) nooutput
			if (STATS_max_x > 0) {
				series[k] = series[k] . sprintf(" %d", d)
				p = panel(k)
				hi[p] = STATS_max_x > hi[p] ? STATS_max_x : hi[p]
				lo[p] = STATS_min_y < lo[p] ? STATS_min_y : lo[p]
			}
			stats dat index block(k, d) using 1 nooutput
			if (k == 1) {
				clusters = STATS_max + 1
				labels = labels < 0 ? block(k, d) : labels
			}
			areas_lo = k == 4 && STATS_min < areas_lo ? STATS_min : areas_lo
			areas_hi = k == 4 && STATS_max > areas_hi ? STATS_max : areas_hi
		}
	}
}
panels = (hi[1] > 0) + (hi[2] > 0) + (hi[3] > 0) + (hi[4] > 0)

decade(v) = 10.0 ** floor(log10(v))
ylo(p) = decade(lo[p])
yhi(p) = decade(hi[p]) < hi[p] || decade(hi[p]) == decade(lo[p]) \
	 ? 10 * decade(hi[p]) : decade(hi[p])

# ---- the page -------------------------------------------------------------

# Two panels a row, a row fewer without the scale curves.
rows = panels > 2 ? 2 : 1
cols = panels > 1 ? 2 : 1
width = cols == 2 ? 1400 : 800
height = rows == 2 ? 1000 : 560
ext = strlen(out) >= 4 ? out[strlen(out) - 3:] : ""
if (ext eq ".png" || ext eq ".PNG") {
	# pngcairo draws smoother than libgd's png, but a gnuplot may come
	# without it
	if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
		set terminal pngcairo size width, height enhanced font "sans,11"
	} else {
		set terminal png size width, height enhanced font "sans,11"
	}
} else {
	set terminal svg size width, height dynamic enhanced \
		font "sans,11" background "white"
}
set output out
if (panels == 0) {
	# memory alone, or nothing measured: a page that says so
	print "bench.gp: no faults/s, latency or scale values in ", dat
	unset border
	unset tics
	set label "uvma bench: nothing to draw (see the table)" at graph 0.5, \
		graph 0.5 center
	plot [0:1] [0:1] NaN notitle
	exit
}

# Bars and curves in front of a light grid, the key above each panel where
# it covers nothing.
set style fill solid 0.9 border rgb "#404040"
set grid ytics mytics lt 1 lc rgb "#d0d0d0", lt 1 lc rgb "#eeeeee"
set key outside top center horizontal samplen 2 font ",11"
set tics nomirror
set border 3
# The values over the bars: a log axis is hard to read closely.
si(v) = v >= 1e9 ? sprintf("%.2gG", v / 1e9) : \
	v >= 1e6 ? sprintf("%.2gM", v / 1e6) : sprintf("%.3gk", v / 1e3)
set multiplot layout rows, cols \
	title "uvma: per-VMA lock designs side by side" font ",16"

set logscale y
set format y "10^{%L}"
set mytics 10

# ---- faults/s and latency per fault scenario ------------------------------

# The scenario labels under the middle of each cluster, carried by an
# invisible point per line.
set xrange [-0.5:clusters - 0.5]
set xtics scale 0 font ",12"
set boxwidth step * 0.9
unset xlabel
d_of(w) = w + 0 # a design's number from a word of series[k]

if (hi[1] > 0) {
	set title "faults per second (higher is better)"
	set yrange [ylo(1):yhi(1)]
	set ylabel "faults/s"
	plot dat index labels using 1:(NaN):xtic(2) notitle, \
		for [w in series[1]] dat index block(1, d_of(w)) \
		using ($1 + bar_x(d_of(w))):3 with boxes \
		lc rgb colour[d_of(w)] title columnhead(3), \
		for [w in series[1]] dat index block(1, d_of(w)) \
		using ($1 + bar_x(d_of(w))):3:(si($3)) \
		with labels offset 0,0.6 font ",9" notitle
}

if (hi[2] > 0) {
	set title "fault latency: bar p50, whisker up to p99 (lower is better)"
	set yrange [ylo(2):yhi(2)]
	set ylabel "latency (ns)"
	# a whisker without its p50 bar starts at the axis
	p50(c) = valid(c) ? column(c) : ylo(2)
	# p50 as the bar; p99 as a candlestick shrunk to a line on top of it
	# with a whisker up to p99 (yerrorbars would dot one of its caps): the
	# tail stays visible without doubling the number of bars.
	plot dat index labels using 1:(NaN):xtic(2) notitle, \
		for [w in series[2]] dat index block(2, d_of(w)) \
		using ($1 + bar_x(d_of(w))):4 with boxes \
		lc rgb colour[d_of(w)] title columnhead(3), \
		for [w in series[3]] dat index block(3, d_of(w)) \
		using ($1 + bar_x(d_of(w))):(p50(4)):(p50(4)):5:(p50(4)) \
		with candlesticks whiskerbars 0.4 fs empty lw 1.5 \
		lc rgb "#202020" notitle, \
		for [w in (series[3] ne "" ? "p99" : "")] keyentry \
		with yerrorbars lw 1.5 ps 0 lc rgb "#202020" title "p99"
}

# ---- the scale curves -----------------------------------------------------

if (hi[3] > 0 || hi[4] > 0) {
	# a little room left and right, so that no marker sits on an axis
	set xrange [areas_lo / 1.5:areas_hi * 1.5]
	set xtics autofreq scale 1 font ""
	set logscale x
	set format x "10^{%L}"
	set mxtics 10
	set xlabel "mapped areas (VMAs)"
}

if (hi[3] > 0) {
	set title "scale: faults per second (higher is better)"
	set yrange [ylo(3):yhi(3)]
	set ylabel "faults/s"
	plot for [w in series[4]] dat index block(4, d_of(w)) using 1:2 \
		with linespoints lw 2 pt 7 ps 1.2 lc rgb colour[d_of(w)] \
		title columnhead(2)
}

if (hi[4] > 0) {
	set title "scale: mmap+munmap pairs per second (higher is better)"
	set yrange [ylo(4):yhi(4)]
	set ylabel "mmap+munmap pairs/s"
	plot for [w in series[5]] dat index block(5, d_of(w)) using 1:3 \
		with linespoints lw 2 pt 7 ps 1.2 lc rgb colour[d_of(w)] \
		title columnhead(2)
}

unset multiplot
unset output

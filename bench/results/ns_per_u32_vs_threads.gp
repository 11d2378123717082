set terminal pngcairo size 1100,700 enhanced font ',10'
set output 'ns_per_u32_vs_threads.png'
set title 'u32 draw: wall time per draw as each thread sees it (solid: grndpool strategies, dashed: peers)'
set logscale x 2
set logscale y 10
set format y '10^{%L}'
set xlabel 'threads'
set ylabel 'ns per draw per thread'
set key outside right
set grid
plot 'ns_per_u32_vs_threads.dat' index 0 using 1:2 with linespoints lc rgb '#1f77b4' lw 2.5 dt 1 title 'syscall', 'ns_per_u32_vs_threads.dat' index 1 using 1:2 with linespoints lc rgb '#d62728' lw 2.5 dt 1 title 'vdso', 'ns_per_u32_vs_threads.dat' index 2 using 1:2 with linespoints lc rgb '#2ca02c' lw 2.5 dt 1 title 'per-thread', 'ns_per_u32_vs_threads.dat' index 3 using 1:2 with linespoints lc rgb '#ff7f0e' lw 2.5 dt 1 title 'slab', 'ns_per_u32_vs_threads.dat' index 4 using 1:2 with linespoints lc rgb '#9467bd' lw 2.5 dt 1 title 'shared', 'ns_per_u32_vs_threads.dat' index 5 using 1:2 with linespoints lc rgb '#8c564b' lw 2.5 dt 1 title 'mutex', 'ns_per_u32_vs_threads.dat' index 6 using 1:2 with linespoints lc rgb '#e377c2' lw 1.5 dt 2 title 'glibc-arc4random', 'ns_per_u32_vs_threads.dat' index 7 using 1:2 with linespoints lc rgb '#7f7f7f' lw 1.5 dt 2 title 'libbsd-arc4random', 'ns_per_u32_vs_threads.dat' index 8 using 1:2 with linespoints lc rgb '#bcbd22' lw 1.5 dt 2 title 'libsodium', 'ns_per_u32_vs_threads.dat' index 9 using 1:2 with linespoints lc rgb '#17becf' lw 1.5 dt 2 title 'openssl-rand', 'ns_per_u32_vs_threads.dat' index 10 using 1:2 with linespoints lc rgb '#000000' lw 1.5 dt 2 title 'raw-chacha20'

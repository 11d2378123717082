set terminal pngcairo size 1000,650 enhanced font ',10'
set output 'locked_bytes_vs_threads.png'
set title 'Locked memory (VmLck) after every thread drew once (locking nothing: syscall, vdso)'
set logscale xy 2
set yrange [2:32768]
set xlabel 'threads'
set ylabel 'VmLck (KiB)'
set key left top
set grid
plot 'locked_bytes_vs_threads.dat' index 2 using 1:2 with linespoints lw 2 lc rgb '#2ca02c' title 'per-thread', 'locked_bytes_vs_threads.dat' index 3 using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' title 'slab', 'locked_bytes_vs_threads.dat' index 4 using 1:2 with linespoints lw 2 lc rgb '#9467bd' title 'shared', 'locked_bytes_vs_threads.dat' index 5 using 1:2 with linespoints lw 2 lc rgb '#8c564b' title 'mutex', 8192 with lines dt 3 lc rgb 'black' title 'RLIMIT\_MEMLOCK (8192 KiB)'

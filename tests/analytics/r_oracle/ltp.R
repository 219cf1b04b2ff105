# R oracle for the local tumour progression cumulative incidence (analytics/stats/local_control.py):
# reads an ADLTP CSV (ltp_days, ltp_event: 1 LTP, 2 death without LTP, 0 censored; ltp_population True/False),
# keeps the LTP analysis population (complete ablation at the first follow-up imaging, Ahmed 2014) and prints
# "ltp<TAB>key<TAB>value" lines: its size n, cmprsk::cuminc estimate and variance at every jump and at days 90, 180, 365.
# Usage: Rscript ltp.R adltp.csv
suppressPackageStartupMessages(library(cmprsk))
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
d <- d[as.logical(d$ltp_population), ]
out <- function(key, value) cat(sprintf("ltp\t%s\t%s\n", key, ifelse(is.na(value), "NA", sprintf("%.15g", value))))
out("n", nrow(d))
fit <- cuminc(d$ltp_days, d$ltp_event, cencode = 0)
ci <- fit[["1 1"]]
for (i in seq(3, length(ci$time) - 1, by = 2)) {
  out(paste0("estimate@", ci$time[i]), ci$est[i]); out(paste0("var@", ci$time[i]), ci$var[i])
}
tp <- timepoints(fit, c(90, 180, 365))
for (k in c(90, 180, 365)) {
  out(paste0("landmark@", k), tp$est["1 1", as.character(k)]); out(paste0("landmark_var@", k), tp$var["1 1", as.character(k)])
}

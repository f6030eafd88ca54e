## Layar ponsel, seperti yang dibaca oleh peminjam.
## Kalimat pendek dan sederhana.

page-title = Ponsel Anda
language-label = Bahasa
language-submit = Ganti
imei-label = IMEI
refresh = Perbarui status
refresh-done = Status sudah diperbarui.
refresh-failed = Tidak dapat menghubungi pemberi pinjaman. Periksa internet Anda, lalu coba lagi.

## Layar biasa

active-heading = Ponsel Anda berfungsi normal
active-body = Tidak ada yang diblokir.
active-on-code = Terbuka dengan kode sampai { $date }.
banner-due-reminder = Pengingat pembayaran
banner-overdue-reminder = Pembayaran terlambat
banner-lock-notice = Pemberitahuan penguncian
banner-second-lock-notice = Pemberitahuan terakhir penguncian
banner-notice = Pesan dari { $lender }
payment-banner = Ada cicilan yang jatuh tempo. Ponsel Anda tetap berfungsi normal.
offline-warning = Tidak ada koneksi. Ponsel ini akan terkunci pada { $date }, kecuali tersambung ke internet atau Anda memasukkan kode dari bukti pembayaran.

## Layar kunci

locked-heading = Ponsel ini terkunci
locked-by-lender = { $lender } telah mengunci ponsel ini.
locked-expired = Ponsel ini terlalu lama tidak dapat menghubungi { $lender }, sehingga terkunci.
locked-no-lease-heading = Ponsel ini belum diaktifkan
locked-no-lease = Sambungkan ke internet untuk menyelesaikan pengaturan.
amount-due = Jumlah tagihan
how-to-pay = Cara membayar
pay-online = Bayar online atau minta bantuan
call-lender = Telepon { $lender }
emergency-call = Panggilan darurat
emergency-note = Panggilan darurat selalu bisa dilakukan, bahkan saat ponsel terkunci.
code-heading = Kode buka kunci
code-label = Masukkan kode dari bukti pembayaran Anda
code-submit = Buka kunci
paid-heading = Sudah bayar?
paid-label = Nomor bukti bayar atau catatan singkat
paid-submit = Saya sudah bayar
paid-note = { $lender } akan memeriksa pembayaran Anda. Selama pemeriksaan, ponsel tidak akan terkunci otomatis.

## Hasil formulir

code-accepted = Kode diterima. Ponsel Anda berfungsi sampai { $date }.
code-wrong = Kode ini tidak berlaku untuk ponsel ini. Coba lagi dalam { $minutes } menit.
code-wait = Terlalu banyak kode yang salah. Coba lagi dalam { $minutes } menit.
code-typo = Ada salah ketik pada kode. Periksa angkanya, lalu masukkan lagi.
code-length = Kode buka kunci terdiri dari { $digits } angka. Periksa, lalu masukkan lagi.
code-characters = Kode hanya berisi angka.
code-used = Kode ini sudah pernah dipakai.
code-invalid = Kode ini tidak bisa dipakai di ponsel ini.
code-expired = Kode ini sudah kedaluwarsa pada { $date }. Minta kode baru.
code-not-enrolled = Ponsel ini belum pernah tersambung. Sambungkan sekali, lalu masukkan kode.
code-released = Ponsel ini sudah lunas. Tidak perlu kode.
code-not-stored = Kode tidak dapat disimpan. Silakan masukkan lagi.
code-empty = Masukkan kode terlebih dahulu.
dispute-opened = Terima kasih. { $lender } akan memeriksa pembayaran Anda. Nomor referensi Anda: { $reference }
dispute-failed = Gagal mengirim. Periksa internet Anda, lalu coba lagi.
dispute-empty = Tulis dulu nomor bukti bayar atau catatan singkat.

## Layar ponsel yang sudah lunas

free-heading = Ponsel ini milik Anda
free-body = Sudah lunas. Ponsel ini tidak akan pernah dikunci lagi.

## Skrini ya simu, kama mkopaji anavyoisoma.
## Sentensi fupi na rahisi.

page-title = Simu yako
language-label = Lugha
language-submit = Badilisha
imei-label = IMEI
refresh = Sasisha hali
refresh-done = Hali imesasishwa.
refresh-failed = Imeshindwa kumfikia mkopeshaji. Angalia intaneti yako kisha ujaribu tena.

## Skrini ya kawaida

active-heading = Simu yako inafanya kazi kama kawaida
active-body = Hakuna kilichozuiwa.
active-on-code = Imefunguliwa kwa msimbo hadi { $date }.
banner-due-reminder = Ukumbusho wa malipo
banner-overdue-reminder = Malipo yamechelewa
banner-lock-notice = Notisi ya kufunga simu
banner-second-lock-notice = Notisi ya mwisho ya kufunga simu
banner-notice = Ujumbe kutoka kwa { $lender }
payment-banner = Una malipo yanayodaiwa. Simu yako bado inafanya kazi kama kawaida.
offline-warning = Hakuna mtandao. Simu hii itafungwa tarehe { $date }, isipokuwa iunganishwe na intaneti au uweke msimbo kutoka kwenye risiti yako ya malipo.

## Skrini ya simu iliyofungwa

locked-heading = Simu hii imefungwa
locked-by-lender = Simu hii imefungwa na { $lender }.
locked-expired = Simu hii haikuweza kuwasiliana na { $lender } kwa muda mrefu, kwa hiyo imefungwa.
locked-no-lease-heading = Simu hii bado haijaandaliwa
locked-no-lease = Iunganishe na intaneti ili kukamilisha maandalizi.
amount-due = Kiasi kinachodaiwa
how-to-pay = Jinsi ya kulipa
pay-online = Lipa mtandaoni au pata msaada
call-lender = Piga simu kwa { $lender }
emergency-call = Simu ya dharura
emergency-note = Simu za dharura hufanya kazi kila wakati, hata simu ikiwa imefungwa.
code-heading = Msimbo wa kufungua
code-label = Weka msimbo kutoka kwenye risiti yako ya malipo
code-submit = Fungua
paid-heading = Umeshalipa?
paid-label = Namba ya risiti au maelezo mafupi
paid-submit = Nimeshalipa
paid-note = Malipo yako yatakaguliwa na { $lender }. Wakati wa ukaguzi, simu haitajifunga yenyewe.

## Matokeo ya fomu

code-accepted = Msimbo umekubaliwa. Simu yako itafanya kazi hadi { $date }.
code-wrong = Msimbo huu si sahihi kwa simu hii. Jaribu tena baada ya dakika { $minutes }.
code-wait = Umeweka misimbo isiyo sahihi mara nyingi mno. Jaribu tena baada ya dakika { $minutes }.
code-typo = Msimbo una kosa. Angalia tarakimu kisha uweke tena.
code-length = Msimbo wa kufungua una tarakimu { $digits }. Uangalie kisha uweke tena.
code-characters = Msimbo una tarakimu tu.
code-used = Msimbo huu umeshatumika.
code-invalid = Msimbo huu haufanyi kazi kwenye simu hii.
code-expired = Muda wa msimbo huu uliisha tarehe { $date }. Omba msimbo mpya.
code-not-enrolled = Simu hii bado haijaunganishwa. Iunganishe mara moja, kisha uweke msimbo.
code-released = Simu hii imeshalipiwa yote. Haihitaji msimbo.
code-not-stored = Msimbo haukuweza kuhifadhiwa. Tafadhali uweke tena.
code-empty = Weka msimbo kwanza.
dispute-opened = Asante. Malipo yako yatakaguliwa na { $lender }. Namba yako ya kumbukumbu: { $reference }
dispute-failed = Imeshindwa kutuma. Angalia intaneti yako kisha ujaribu tena.
dispute-empty = Andika namba ya risiti au maelezo mafupi kwanza.

## Skrini ya simu iliyolipiwa yote

free-heading = Simu hii ni yako
free-body = Imelipiwa yote. Haitafungwa tena kamwe.

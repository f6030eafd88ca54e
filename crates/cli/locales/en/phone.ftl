## The simulated phone's screen, as its borrower reads it.
## Short, plain sentences: this is read by someone whose phone just locked.
## Variables: $lender (the lender's name), $date (a date and time), $minutes and
## $digits (numbers), $reference (a dispute reference).

page-title = Your phone
language-label = Language
language-submit = Change
imei-label = IMEI
refresh = Refresh status
refresh-done = Status updated.
refresh-failed = No connection to the lender. Check your internet and try again.

## The normal screen.

active-heading = Your phone works normally
active-body = Nothing is blocked.
active-on-code = Unlocked with a code until { $date }.
banner-due-reminder = Payment reminder
banner-overdue-reminder = Payment overdue
banner-lock-notice = Lock notice
banner-second-lock-notice = Final lock notice
banner-notice = Message from { $lender }
payment-banner = A payment is due. Your phone still works normally.
offline-warning = No connection. This phone will lock on { $date } unless it goes online or you enter a code from your payment receipt.

## The lock screen.

locked-heading = This phone is locked
locked-by-lender = { $lender } has locked this phone.
locked-expired = This phone could not reach { $lender } for too long, so it locked.
locked-no-lease-heading = This phone is not set up yet
locked-no-lease = Connect it to the internet to finish setup.
amount-due = Amount due
how-to-pay = How to pay
pay-online = Pay online or get help
call-lender = Call { $lender }
emergency-call = Emergency call
emergency-note = Emergency calls always work, even when the phone is locked.
code-heading = Unlock code
code-label = Enter the code from your payment receipt
code-submit = Unlock
paid-heading = Already paid?
paid-label = Receipt number or a short note
paid-submit = I already paid
paid-note = { $lender } will check your payment. While they check, the phone will not lock by itself.

## What a form did.

code-accepted = Code accepted. Your phone works until { $date }.
code-wrong =
    This code is not valid for this phone. Try again in { $minutes ->
        [one] 1 minute
       *[other] { $minutes } minutes
    }.
code-wait =
    Too many wrong codes. Try again in { $minutes ->
        [one] 1 minute
       *[other] { $minutes } minutes
    }.
code-typo = The code has a typo. Check the digits and try again.
code-length = An unlock code has { $digits } digits. Check it and try again.
code-characters = A code has only digits.
code-used = This code was already used.
code-invalid = This code does not work on this phone.
code-expired = This code ran out on { $date }. Ask for a new one.
code-not-enrolled = This phone has not connected yet. Connect it once, then enter the code.
code-released = This phone is paid off. It needs no code.
code-not-stored = The code could not be saved. Please enter it again.
code-empty = Enter a code first.
dispute-opened = Thank you. { $lender } will check your payment. Your reference: { $reference }
dispute-failed = Could not send. Check your internet and try again.
dispute-empty = Write your receipt number or a short note first.

## The screen of a phone that is paid off.

free-heading = This phone is yours
free-body = It is fully paid. It will never be locked again.
